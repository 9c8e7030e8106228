"""Django admin for the administrator (staff, fully signed in). Transitions go through the lifecycle services;
nothing here deletes people, consent records or terms versions."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from accounts.models import AccountRequest, Organisation, TermsAcceptance, TermsVersion, User, UserSession


def _is_administrator(request: HttpRequest) -> bool:
    # The contractor's staff run accounts; other staff (if any) need explicit Django permissions.
    return bool(request.user.is_authenticated and request.user.is_staff and request.user.is_system_admin)


class NoDeleteAdmin(admin.ModelAdmin):
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
    list_display = ["name", "kind", "supply_area", "jurisdiction_code", "is_active"]
    list_filter = ["kind", "supply_area", "is_active"]
    search_fields = ["name"]
    # Changed only in the administrator console, through the service that records the event.
    readonly_fields = ["second_factor_policy", "webauthn_device_bound_only"]


@admin.register(User)
class UserAdmin(NoDeleteAdmin):
    list_display = ["name", "email", "organisation", "is_officer", "status", "last_activity_at"]
    list_filter = ["status", "is_officer", "organisation__kind"]
    search_fields = ["name", "email", "organisation__name"]
    list_select_related = ["organisation"]
    # Status, password, organisation and role change only through the lifecycle (officer request + approval).
    readonly_fields = [
        "email",
        "organisation",
        "status",
        "status_reason",
        "status_changed_at",
        "date_joined",
        "activated_at",
        "last_login",
        "last_activity_at",
        "password_changed_at",
        "idle_warning_sent_at",
        "is_superuser",
    ]
    fields = ["name", "department", "title", "emergency_phone", "is_officer", "is_staff", *readonly_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # accounts come only from an officer's request and the administrator's approval


@admin.register(TermsVersion)
class TermsVersionAdmin(NoDeleteAdmin):
    list_display = ["version", "title", "published_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: TermsVersion | None = None) -> list[str]:
        # A version people accepted is frozen: publish a new version instead of editing it.
        return ["version", "title", "body_ja", "body_en", "published_at"] if obj and obj.acceptances.exists() else []


class ReadOnlyAdmin(NoDeleteAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TermsAcceptance)
class TermsAcceptanceAdmin(ReadOnlyAdmin):
    list_display = ["user", "terms", "accepted_at", "ip_address"]
    list_select_related = ["user", "terms"]


@admin.register(AccountRequest)
class AccountRequestAdmin(ReadOnlyAdmin):
    list_display = ["kind", "email", "organisation", "status", "requested_by", "requested_at", "decided_by"]
    list_filter = ["status", "kind"]
    list_select_related = ["organisation", "requested_by", "decided_by"]


@admin.register(UserSession)
class UserSessionAdmin(ReadOnlyAdmin):
    list_display = ["user", "ip_address", "created_at", "last_seen_at", "ended_at", "end_reason"]
    list_select_related = ["user"]
