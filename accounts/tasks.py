from __future__ import annotations

from celery import shared_task

from accounts.idle import idle_accounts_suspend, idle_accounts_warn


@shared_task(name="accounts.tasks.idle_accounts_sweep")
def idle_accounts_sweep() -> dict[str, int]:
    """Daily (CELERY_BEAT_SCHEDULE): warn, then suspend. Idempotent, safe if two runs overlap."""
    suspended = idle_accounts_suspend()
    warned = idle_accounts_warn()
    return {"suspended": len(suspended), "warned": len(warned)}
