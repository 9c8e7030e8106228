from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.auth.password_validation import password_validators_help_text_html, validate_password
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _

from accounts.models import WEEKDAYS, BureauScope, Organisation, OrganisationKind, SecondFactorPolicy, User
from accounts.use_policy import USE_APPROVAL_MAX_MINUTES_LIMIT, USE_APPROVAL_MIN_MINUTES, USE_POLICY_FIELDS
from renergy.geography import BureauRegion, SupplyArea


class PasswordStepForm(forms.Form):
    # Named "username" because django-axes reads the account from that field (AXES_USERNAME_FORM_FIELD).
    username = forms.EmailField(label=_("メールアドレス"), max_length=254)
    password = forms.CharField(label=_("パスワード"), strip=False, max_length=256, widget=forms.PasswordInput)


class CodeStepForm(forms.Form):
    code = forms.CharField(
        label=_("認証コード（6桁）またはリカバリーコード"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}),
    )


class NewPasswordForm(forms.Form):
    new_password1 = forms.CharField(
        label=_("新しいパスワード"),
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validators_help_text_html(),
    )
    new_password2 = forms.CharField(
        label=_("新しいパスワード（確認）"),
        strip=False,
        max_length=256,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("new_password1"), data.get("new_password2")
        if first and second and first != second:
            raise forms.ValidationError(_("確認用のパスワードが一致しません。"))
        if first:
            validate_password(first, self.user)
        return data


class ChangePasswordForm(NewPasswordForm):
    # The current password is checked by accounts.authentication.reauthenticate in the view, never here: a form
    # cannot count failures in the lockout.
    old_password = forms.CharField(label=_("現在のパスワード"), strip=False, max_length=256, widget=forms.PasswordInput)
    field_order = ["old_password", "new_password1", "new_password2"]


class ConfirmPasswordForm(forms.Form):
    """The current password before a sensitive change; checked by accounts.authentication.reauthenticate."""

    password = forms.CharField(label=_("現在のパスワード"), strip=False, max_length=256, widget=forms.PasswordInput)


class TermsAcceptForm(forms.Form):
    agree = forms.BooleanField(label=_("上記の利用規約に同意します"), required=True)


class AccountRequestForm(forms.Form):
    email = forms.EmailField(label=_("メールアドレス"), max_length=254)
    name = forms.CharField(label=_("氏名"), max_length=100)
    department = forms.CharField(label=_("部署"), max_length=200, required=False)
    title = forms.CharField(label=_("役職"), max_length=100, required=False)
    is_officer = forms.BooleanField(label=_("システム利用責任者とする"), required=False)
    emergency_phone = forms.CharField(label=_("緊急連絡先電話番号（利用責任者のみ）"), max_length=30, required=False)
    reason = forms.CharField(label=_("申請理由（業務内容）"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("理由"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class AccountSearchForm(forms.Form):
    q = forms.CharField(label=_("検索（氏名・メールアドレス・組織）"), max_length=100, required=False)


class OrganisationRightsForm(forms.Form):
    """What bounds an organisation's data scope; the kind is not here because it never changes."""

    supply_area = forms.ChoiceField(label=_("供給区域"), choices=[("", "—"), *SupplyArea.choices], required=False)
    jurisdiction_code = forms.CharField(label=_("管轄地域コード"), max_length=6, required=False)
    ip_ranges = forms.CharField(
        label=_("登録IPアドレス範囲"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("CIDR表記で1行に1つ。空欄なら制限なし。"),
    )
    is_active = forms.BooleanField(label=_("有効"), required=False)
    bureau_region = forms.ChoiceField(
        label=_("経済産業局の管轄"),
        choices=[("", "—"), *BureauRegion.choices],
        required=False,
        help_text=_("経済産業局のみ"),
    )
    bureau_scope = forms.ChoiceField(
        label=_("経済産業局が閲覧できる設備"),
        choices=BureauScope.choices,
        help_text=_("資源エネルギー庁の決定に従って設定し、理由に指示を記録します（経済産業局のみ）"),
    )
    reason = forms.CharField(label=_("変更理由"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        names = ("supply_area", "jurisdiction_code", "ip_ranges", "bureau_region", "bureau_scope")
        initial = {name: getattr(organisation, name) for name in names}
        kwargs["initial"] = {**initial, "is_active": organisation.is_active}
        super().__init__(*args, **kwargs)
        if organisation.kind != OrganisationKind.BUREAU:
            del self.fields["bureau_region"], self.fields["bureau_scope"]


class KeyNameForm(forms.Form):
    name = forms.CharField(
        label=_("キーの名前"),
        max_length=64,
        help_text=_("どのキーか自分で見分けられる名前（例: 青いUSBキー、業務用ノートPC）"),
    )


class SecondFactorPolicyForm(forms.Form):
    policy = forms.ChoiceField(
        label=_("使える二要素認証"), choices=SecondFactorPolicy.choices, widget=forms.RadioSelect
    )
    device_bound_only = forms.BooleanField(
        label=_("端末に固定されたキーのみ認める（同期パスキーを認めない）"), required=False
    )


class UseRequestForm(forms.Form):
    purpose = forms.CharField(label=_("利用目的（業務内容）"), max_length=500, widget=forms.Textarea(attrs={"rows": 3}))
    minutes = forms.IntegerField(label=_("利用時間（分）"), min_value=USE_APPROVAL_MIN_MINUTES)

    def __init__(self, *args: Any, max_minutes: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.IntegerField, self.fields["minutes"])
        field.max_value = max_minutes
        field.validators.append(MaxValueValidator(max_minutes))
        field.widget.attrs["max"] = max_minutes
        field.initial = min(60, max_minutes)
        field.help_text = _("最長 %(n)d 分（所属組織の定め）") % {"n": max_minutes}


class UsePolicyForm(forms.Form):
    """An organisation's per-use approval and allowed hours (accounts.use_policy)."""

    use_approval_required = forms.BooleanField(
        label=_("利用の都度、システム利用責任者の承認を求める（都度承認）"), required=False
    )
    use_approval_max_minutes = forms.IntegerField(
        label=_("1回の承認で利用できる最長時間（分）"),
        min_value=USE_APPROVAL_MIN_MINUTES,
        max_value=USE_APPROVAL_MAX_MINUTES_LIMIT,
    )
    allowed_hours_enabled = forms.BooleanField(label=_("利用可能な曜日と時間を制限する"), required=False)
    allowed_weekdays = forms.TypedMultipleChoiceField(
        label=_("利用可能な曜日"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    allowed_from = forms.TimeField(label=_("利用可能時間（開始, 日本時間）"), widget=forms.TimeInput(format="%H:%M"))
    allowed_until = forms.TimeField(label=_("利用可能時間（終了, 日本時間）"), widget=forms.TimeInput(format="%H:%M"))
    allowed_exclude_holidays = forms.BooleanField(label=_("祝日は利用不可とする"), required=False)
    reason = forms.CharField(label=_("変更理由"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        initial = {name: getattr(organisation, name) for name in USE_POLICY_FIELDS}
        if not organisation.allowed_hours_enabled and not organisation.allowed_weekdays:
            initial["allowed_weekdays"] = [1, 2, 3, 4, 5]
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)


class TermsDraftForm(forms.Form):
    title = forms.CharField(label=_("表題"), max_length=200)
    body_ja = forms.CharField(label=_("本文（日本語）"), widget=forms.Textarea(attrs={"rows": 16}))
    body_en = forms.CharField(label=_("本文（英語）"), required=False, widget=forms.Textarea(attrs={"rows": 16}))


class PasswordPolicyForm(forms.Form):
    days = forms.IntegerField(
        label=_("パスワードの有効期間（日）"),
        min_value=0,
        max_value=3650,
        help_text=_("0なら期限なし（推奨: NIST SP 800-63B は定期的な変更を求めないよう勧めています）"),
    )
