from __future__ import annotations

from pathlib import Path

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

ACCEPTED_SUFFIXES = (".xlsx", ".csv")
MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label=_("認定設備一覧ファイル"),
        help_text=_("資源エネルギー庁が公表する都道府県別の一覧（.xlsx）または CSV（UTF-8 または Shift_JIS）"),
    )

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        if Path(upload.name or "").suffix.lower() not in ACCEPTED_SUFFIXES:
            raise forms.ValidationError(_(".xlsx または .csv ファイルを選んでください。"))
        if upload.size and upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("ファイルが大きすぎます（200MB まで）。"))
        return upload
