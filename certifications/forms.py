from __future__ import annotations

from pathlib import Path
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from certifications.models import OperatorKind

ACCEPTED_SUFFIXES = (".xlsx", ".csv", ".zip")
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
MAX_FILES = 100


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented pattern for `<input type=file multiple>`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ",".join(ACCEPTED_SUFFIXES)}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        return [single(data, initial)]


class ImportUploadForm(forms.Form):
    # A declared field, not the form's `files` attribute: the form metaclass moves it into base_fields.
    files = MultipleFileField(  # type: ignore[assignment]
        label=_("認定設備一覧ファイル"),
        help_text=_(
            "資源エネルギー庁が公表する都道府県別の一覧（.xlsx）、それを保存した CSV（Shift_JIS または UTF-8）、"
            "本システムから出力した CSV・XLSX。複数のファイル、または全都道府県分をまとめた zip も選べます。"
        ),
    )

    def clean_files(self) -> list[UploadedFile]:
        uploads: list[UploadedFile] = self.cleaned_data["files"]
        if len(uploads) > MAX_FILES:
            raise forms.ValidationError(_("一度に選べるファイルは %(n)d 個までです。") % {"n": MAX_FILES})
        for upload in uploads:
            if Path(upload.name or "").suffix.lower() not in ACCEPTED_SUFFIXES:
                raise forms.ValidationError(_(".xlsx、.csv または .zip ファイルを選んでください。"))
            if upload.size and upload.size > MAX_UPLOAD_BYTES:
                raise forms.ValidationError(_("ファイルが大きすぎます（200MB まで）。"))
        return uploads


class OperatorKindForm(forms.Form):
    kind = forms.ChoiceField(label=_("法人・個人の別"), choices=OperatorKind.choices)
