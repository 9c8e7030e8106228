"""Django admin for the administrator (staff, fully signed in). Transitions go through the lifecycle services;
nothing here deletes people, consent records or terms versions."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.admin_site import ReadOnlyAdmin, SecretSafeAdmin
from accounts.lifecycle import ORGANISATION_RIGHTS, organisation_create
from accounts.models import AccountRequest, Organisation, TermsAcceptance, TermsVersion, User, UseRequest, UserSession
from accounts.use_policy import USE_POLICY_FIELDS

# django-otp's own admins show and edit TOTP secrets (and a QR code of them) and list recovery codes in clear:
# anyone with the admin could clone a person's second factor. Devices change only through the person's own
# enrolment and the lifecycle (reactivation removes them).
for _device_model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device_model):
        admin.site.unregister(_device_model)


def _is_administrator(request: HttpRequest) -> bool:
    # The contractor's staff run accounts; other staff (if any) need explicit Django permissions.
    return bool(request.user.is_authenticated and request.user.is_staff and request.user.is_system_admin)


class NoDeleteAdmin(SecretSafeAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return _is_administrator(request) or super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _is_administrator(request) or super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return _is_administrator(request) or super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _is_administrator(request) or super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Organisation)
class OrganisationAdmin(NoDeleteAdmin):
    """The kind is set once, at creation; the data scope (area, jurisdiction, IP ranges, active) changes only
    through the administrator's console (accounts.lifecycle.organisation_rights_change, with its event)."""

    list_display = ["name", "kind", "supply_area", "jurisdiction_code", "is_active"]
    list_filter = ["kind", "supply_area", "is_active"]
    search_fields = ["name"]
    # Changed only in the administrator console, through the services that record the event.
    SECOND_FACTOR = ["second_factor_policy", "webauthn_device_bound_only", "password_max_age_days"]
    USE_POLICY = [*USE_POLICY_FIELDS, "use_approval_since"]

    def get_readonly_fields(self, request: HttpRequest, obj: Organisation | None = None) -> list[str]:
        if obj is None:
            return ["created_at", *self.SECOND_FACTOR, *self.USE_POLICY]
        return ["kind", *ORGANISATION_RIGHTS, *self.SECOND_FACTOR, *self.USE_POLICY, "created_at"]

    def save_model(self, request: HttpRequest, obj: Organisation, form: Any, change: bool) -> None:
        if change:
            obj.save(update_fields=["name"])  # the only field left editable here
        else:
            organisation_create(organisation=obj, actor=cast(User, request.user), request=request)


class UserAdminForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["name", "department", "title", "emergency_phone"]

    def clean_emergency_phone(self) -> str:
        # The role is read-only here, so the model's officer-needs-a-phone constraint is not validated by the form.
        phone = self.cleaned_data["emergency_phone"].strip()
        if self.instance.is_officer and not phone:
            raise forms.ValidationError(_("利用責任者には緊急連絡先電話番号が必要です。"))
        return phone


@admin.register(User)
class UserAdmin(NoDeleteAdmin):
    form = UserAdminForm
    list_display = ["name", "email", "organisation", "is_officer", "status", "last_activity_at"]
    list_filter = ["status", "is_officer", "organisation__kind"]
    search_fields = ["name", "email", "organisation__name"]
    list_select_related = ["organisation"]
    # Status, password, organisation and roles change only through the lifecycle services (officer request,
    # administrator approval, accounts.lifecycle.account_roles_change), each with its event.
    readonly_fields = [
        "email",
        "organisation",
        "is_officer",
        "is_staff",
        "is_superuser",
        "status",
        "status_reason",
        "status_changed_at",
        "date_joined",
        "activated_at",
        "last_login",
        "last_activity_at",
        "password_changed_at",
        "idle_warning_sent_at",
    ]
    fields = ["name", "department", "title", "emergency_phone", *readonly_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts come only from an officer's request and the administrator's approval


class AdministratorReadOnlyAdmin(ReadOnlyAdmin, NoDeleteAdmin):
    """Read-only (ReadOnlyAdmin first), and shown to the administrator without Django permissions (NoDeleteAdmin)."""


@admin.register(TermsVersion)
class TermsVersionAdmin(AdministratorReadOnlyAdmin):
    """Shown only: terms are drafted, previewed and published in the administrator console (「利用規約」), where
    each step is recorded and a published version can no longer change."""

    list_display = ["version", "title", "published_at"]


@admin.register(TermsAcceptance)
class TermsAcceptanceAdmin(AdministratorReadOnlyAdmin):
    list_display = ["user", "terms", "accepted_at", "ip_address"]
    list_select_related = ["user", "terms"]


@admin.register(AccountRequest)
class AccountRequestAdmin(AdministratorReadOnlyAdmin):
    list_display = ["kind", "email", "organisation", "status", "requested_by", "requested_at", "decided_by"]
    list_filter = ["status", "kind"]
    list_select_related = ["organisation", "requested_by", "decided_by"]


@admin.register(UserSession)
class UserSessionAdmin(AdministratorReadOnlyAdmin):
    list_display = ["user", "ip_address", "created_at", "last_seen_at", "ended_at", "end_reason"]
    list_select_related = ["user"]


@admin.register(UseRequest)
class UseRequestAdmin(AdministratorReadOnlyAdmin):
    list_display = ["user", "organisation", "status", "minutes", "requested_at", "decided_by", "window_end"]
    list_filter = ["status"]
    list_select_related = ["user", "organisation", "decided_by"]
