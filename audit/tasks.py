"""Scheduled audit jobs (exactly one beat; each job is idempotent anyway). Thin: each calls a service."""

from __future__ import annotations

from datetime import UTC, timedelta

from celery import shared_task
from django.utils import timezone

from audit import anchors, inspection, partitions, sealing
from renergy.databases import OWNER_ALIAS, long_statements


@shared_task
def seal_pending() -> int:
    # Routed to the "audit-seal" queue (CELERY_TASK_ROUTES): only the worker holding the signing key runs it.
    return sealing.seal_pending()


@shared_task
def send_anchor_digest() -> bool:
    """The previous UTC day's last seal of each stream, e-mailed to the agency (AUDIT_ANCHOR_EMAIL)."""
    return anchors.daily_digest_send(day=timezone.now().astimezone(UTC).date() - timedelta(days=1))


@shared_task
def maintain_partitions() -> list[str]:
    # The worker holds the owner's credentials (DATABASE_MIGRATE_URL) for this job; web and beat do not.
    with long_statements(using=OWNER_ALIAS):  # exporting a month before dropping it takes longer than a request may
        created = partitions.ensure_ahead(using=OWNER_ALIAS)
        partitions.drop_expired()
    return created


@shared_task
def merge_disclosure_index() -> int:
    return partitions.disclosure_index_merge(using=OWNER_ALIAS)


@shared_task
def verify_recent() -> bool:
    now = timezone.now()
    return sealing.verify(now - timedelta(days=2), now).ok


# acks_late (settings): a worker killed mid-run leaves the message to be delivered again.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def run_inspection(run_id: int) -> None:
    inspection.inspection_execute(run_id=run_id)


@shared_task
def inspect_previous_month() -> int:
    return inspection.inspection_schedule_previous_month().pk


@shared_task
def inspect_previous_fiscal_year() -> int:
    return inspection.inspection_schedule_previous_fiscal_year().pk
