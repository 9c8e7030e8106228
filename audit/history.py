"""Model history (django-auditlog) for organisations, people, terms and facilities.

auditlog's own client-IP capture is off (it trusts the left-most X-Forwarded-For); each log entry
gets our resolver's IP and our request id (as its correlation id, AUDITLOG_CID_GETTER) instead, so a
model change can be joined to the access record of the request that made it. Bulk updates write no
history (auditlog #203/#515): the jobs that use them record their own events.
"""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.apps import apps
from django.db.models.signals import pre_save

from audit import context

# Secrets and per-request bookkeeping: history of these would leak or flood.
_USER_EXCLUDE = ["password", "security_stamp", "last_login", "last_activity_at", "idle_warning_sent_at"]

_MODELS: list[tuple[str, dict[str, Any]]] = [
    ("accounts.Organisation", {}),
    ("accounts.User", {"exclude_fields": _USER_EXCLUDE}),
    ("accounts.TermsVersion", {}),
    ("accounts.AccountRequest", {}),
    # Personal data of operators is masked in history: the log must not become a second copy of it.
    ("certifications.Facility", {"mask_fields": ["representative_name", "operator_address", "operator_phone"]}),
]


def _stamp_ip(sender: type, instance: LogEntry, **kwargs: Any) -> None:
    ctx = context.current()
    if ctx is not None and not instance.remote_addr:
        instance.remote_addr = ctx.ip


def register_models() -> None:
    for label, options in _MODELS:
        model = apps.get_model(label)  # every app is installed: a missing model is a mistake, not a stage
        if not auditlog.contains(model):
            auditlog.register(model, **options)
    pre_save.connect(_stamp_ip, sender=LogEntry, dispatch_uid="audit.history.stamp_ip")
