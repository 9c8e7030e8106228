"""Automatic suspension after ACCOUNT_IDLE_SUSPENSION_DAYS without use (NIST SP 800-53 AC-2(3)), and the warning.

Idle is measured from the last use, or for an account never used from its activation or issue date, so
issued-but-never-used accounts are suspended too. The suspension is the lifecycle's own bulk service
(accounts.lifecycle.accounts_suspend_idle: the same effects as a manual suspension). Each step is one
statement whose UPDATE … RETURNING also writes the events and the outbox's e-mails: two overlapping runs
cannot both act on a row, a repeated run finds nothing left to do, and an SMTP outage delays the e-mails
without losing them (the outbox sends them when it can).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts import emails
from accounts.lifecycle import accounts_suspend_idle
from accounts.models import AccountStatus, User
from accounts.outbox import outbox_enqueue_returning_sql, outbox_statement_run
from audit.events import events_insert_sql

IDLE_REASON = "長期間未利用による自動停止 (automatic suspension after {days} days without use)"
_LAST_USE = "COALESCE(last_activity_at, activated_at, date_joined)"


def idle_accounts_suspend() -> list[int]:
    days = settings.ACCOUNT_IDLE_SUSPENSION_DAYS
    return accounts_suspend_idle(
        idle_before=timezone.now() - timedelta(days=days), reason=IDLE_REASON.format(days=days), idle_days=days
    )


@transaction.atomic
def idle_accounts_warn() -> list[int]:
    """Warn once per idle period, ACCOUNT_SUSPENSION_WARNING_DAYS before suspension."""
    days = settings.ACCOUNT_IDLE_SUSPENSION_DAYS
    warn_days = settings.ACCOUNT_SUSPENSION_WARNING_DAYS
    now = timezone.now()
    table = User._meta.db_table
    due_sql = (
        f"UPDATE {table} SET idle_warning_sent_at = %(now)s "  # noqa: S608 - table name is ours
        f"WHERE status = %(active)s AND {_LAST_USE} < %(warn_before)s "
        f"AND (idle_warning_sent_at IS NULL OR idle_warning_sent_at < {_LAST_USE}) "
        "RETURNING id, email, organisation_id"
    )
    params: dict[str, Any] = {
        "now": now,
        "active": AccountStatus.ACTIVE,
        "warn_before": now - timedelta(days=days - warn_days),
    }
    events_sql, event_params = events_insert_sql(
        action="account.idle_warning_sent",
        data={"days_left": warn_days},
        source="changed",
        user_column="id",
        organisation_column="organisation_id",
    )
    outbox_sql, outbox_params = outbox_enqueue_returning_sql(
        kind="idle_warning",
        subject=emails.IDLE_WARNING_SUBJECT,
        context={"days_left": warn_days, "url": emails.login_url()},
    )
    params.update(event_params, **outbox_params)
    sql = f"WITH changed AS ({due_sql}), mail AS ({outbox_sql}), events AS ({events_sql}) SELECT id FROM changed"  # noqa: S608
    return outbox_statement_run(sql, params)
