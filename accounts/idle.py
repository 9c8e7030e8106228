"""Automatic suspension after ACCOUNT_IDLE_SUSPENSION_DAYS without use (NIST SP 800-53 AC-2(3)), and the warning.

Idle is measured from the last use, or for an account never used from its activation or issue date, so
issued-but-never-used accounts are suspended too. Each step is one UPDATE ... RETURNING: two overlapping
runs cannot both act on a row (PostgreSQL re-checks the WHERE clause after waiting for the row lock), and
a repeated run finds nothing left to do. Bulk updates bypass model signals, so each row is recorded here.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts import emails
from accounts.models import AccountStatus, User
from audit.events import record_event

IDLE_REASON = "長期間未利用による自動停止 (automatic suspension after {days} days without use)"
_LAST_USE = "COALESCE(last_activity_at, activated_at, date_joined)"


def _returning(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@transaction.atomic
def idle_accounts_suspend() -> list[int]:
    days = settings.ACCOUNT_IDLE_SUSPENSION_DAYS
    now = timezone.now()
    reason = IDLE_REASON.format(days=days)
    table = User._meta.db_table
    # The status is part of the session auth hash, so every session of a suspended person ends with this UPDATE.
    rows = _returning(
        f"UPDATE {table} SET status = %s, status_reason = %s, status_changed_at = %s "  # noqa: S608 - table name is ours
        f"WHERE status IN (%s, %s) AND {_LAST_USE} < %s RETURNING id",
        [AccountStatus.SUSPENDED, reason, now, AccountStatus.ACTIVE, AccountStatus.INVITED, now - timedelta(days=days)],
    )
    ids = [row[0] for row in rows]
    for user in User.objects.filter(pk__in=ids).select_related("organisation"):
        emails.email_account_suspended(user, reason)
        record_event(
            action="account.suspended",
            target_user=user,
            organisation=user.organisation,
            data={"cause": "idle", "reason": reason, "idle_days": days},
        )
    return ids


@transaction.atomic
def idle_accounts_warn() -> list[int]:
    """Warn once per idle period, ACCOUNT_SUSPENSION_WARNING_DAYS before suspension."""
    days = settings.ACCOUNT_IDLE_SUSPENSION_DAYS
    warn_days = settings.ACCOUNT_SUSPENSION_WARNING_DAYS
    now = timezone.now()
    table = User._meta.db_table
    rows = _returning(
        f"UPDATE {table} SET idle_warning_sent_at = %s "  # noqa: S608 - table name is ours
        f"WHERE status = %s AND {_LAST_USE} < %s "
        f"AND (idle_warning_sent_at IS NULL OR idle_warning_sent_at < {_LAST_USE}) RETURNING id",
        [now, AccountStatus.ACTIVE, now - timedelta(days=days - warn_days)],
    )
    ids = [row[0] for row in rows]
    for user in User.objects.filter(pk__in=ids):
        emails.email_idle_warning(user, warn_days)
        record_event(action="account.idle_warning_sent", target_user=user, data={"days_left": warn_days})
    return ids
