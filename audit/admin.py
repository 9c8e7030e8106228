"""The audit trail in the admin: read-only, for break-glass inspection (the contractor's pages are audit.views)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AccessRecord, AuditSeal, SecurityEvent, VerificationRun


class ReadOnlyAdmin(admin.ModelAdmin):
    # No full-text search: it would scan millions of rows (auditlog #816); filter by time instead.
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AccessRecord)
class AccessRecordAdmin(ReadOnlyAdmin):
    list_display = ["at", "user_id", "role", "ip", "method", "path", "status", "row_count"]
    date_hierarchy = "at"


@admin.register(SecurityEvent)
class SecurityEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "action", "actor_id", "target_user_id", "ip"]
    date_hierarchy = "at"


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    list_display = ["stream", "period_start", "record_count", "digest"]


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyAdmin):
    list_display = ["ran_at", "period_from", "period_to", "ok", "records_checked"]
