from __future__ import annotations

from celery import shared_task

from accounts.idle import idle_accounts_suspend, idle_accounts_warn
from accounts.outbox import outbox_deliver_due


@shared_task(name="accounts.tasks.idle_accounts_sweep")
def idle_accounts_sweep() -> dict[str, int]:
    """Daily (CELERY_BEAT_SCHEDULE): warn, then suspend. Idempotent, safe if two runs overlap."""
    suspended = idle_accounts_suspend()
    warned = idle_accounts_warn()
    return {"suspended": len(suspended), "warned": len(warned)}


@shared_task(name="accounts.tasks.outbox_deliver")
def outbox_deliver() -> dict[str, int]:
    """Send the outbox's due e-mails: queued after each commit that wrote mail, and every minute from beat
    (which also picks up mail whose queueing failed while the broker was down). Safe to run concurrently."""
    return outbox_deliver_due()


@shared_task(name="accounts.tasks.access_review_sweep")
def access_review_sweep() -> dict[str, int]:
    """Daily (CELERY_BEAT_SCHEDULE): close rounds past their deadline, open the period's rounds, remind.
    Idempotent: a round is opened once per organisation and period, closed and reminded once."""
    from accounts.access_review import access_review_sweep as sweep

    return sweep()
