"""The audit trail in the admin: read-only, for break-glass inspection (the contractor's pages are audit.views)."""

from __future__ import annotations

from auditlog.models import LogEntry
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin_site import ReadOnlyAdmin
from audit.models import AccessRecord, AuditSeal, SecurityEvent, VerificationRun


class TrailAdmin(ReadOnlyAdmin):
    # No full-text search: it would scan millions of rows (auditlog #816); filter by time instead.
    show_full_result_count = False


@admin.register(AccessRecord)
class AccessRecordAdmin(TrailAdmin):
    list_display = ["at", "user_id", "role", "ip", "method", "path", "status", "row_count"]
    date_hierarchy = "at"


@admin.register(SecurityEvent)
class SecurityEventAdmin(TrailAdmin):
    list_display = ["at", "action", "actor_id", "target_user_id", "ip"]
    date_hierarchy = "at"


@admin.register(AuditSeal)
class AuditSealAdmin(TrailAdmin):
    list_display = ["stream", "period_start", "record_count", "digest"]


@admin.register(VerificationRun)
class VerificationRunAdmin(TrailAdmin):
    list_display = ["ran_at", "period_from", "period_to", "ok", "records_checked"]


# django-auditlog registers an admin of its own that lists every model's history, facility changes included,
# to anyone holding its view permission. The contractor sees no facility data, so ours leaves facilities out.
if admin.site.is_registered(LogEntry):
    admin.site.unregister(LogEntry)


@admin.register(LogEntry)
class ModelHistoryAdmin(TrailAdmin):
    list_display = ["timestamp", "content_type", "object_repr", "action", "actor", "remote_addr"]
    date_hierarchy = "timestamp"

    def get_queryset(self, request: HttpRequest) -> QuerySet[LogEntry]:
        return super().get_queryset(request).exclude(content_type__app_label="certifications")
