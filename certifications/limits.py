"""Bulk-viewing guard: per-account daily limits on detail views, rows listed and rows exported.

The counter lives in the database and is reserved with one atomic upsert, so several nodes (and several
requests of one person at once) can never together pass the limit.

Rows listed count separately from details: a list page shows up to 50 facilities with a dozen fields each,
so after the detail cap, paging through the list would otherwise be the way round it. Each list page reserves
the rows it is about to show; once the day's list rows are used up, list pages are refused like details.
The export is the place for many rows (with its own, larger, row cap).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone

from audit.events import record_event
from certifications.models import DailyUsage, UsageKind


def daily_limit(kind: str) -> int:
    if kind == UsageKind.DETAIL:
        return int(settings.FACILITY_DAILY_DETAIL_LIMIT)
    if kind == UsageKind.LIST_ROWS:
        return int(settings.FACILITY_DAILY_LIST_ROW_LIMIT)
    return int(settings.FACILITY_DAILY_EXPORT_ROW_LIMIT)


def usage_reserve(*, user: Any, kind: str, amount: int, request: HttpRequest | None = None) -> bool:
    """Add `amount` to today's counter if the result stays within the limit; False (nothing added, the
    account flagged for the self-inspection) otherwise."""
    limit = daily_limit(kind)
    day = timezone.localdate()
    reserved = False
    if amount <= limit:
        table = DailyUsage._meta.db_table
        with connection.cursor() as cursor:
            # The conditional DO UPDATE makes check-and-add one statement: no read-then-write race.
            cursor.execute(
                f"INSERT INTO {table} (user_id, day, kind, count) VALUES (%s, %s, %s, %s) "  # noqa: S608
                f"ON CONFLICT (user_id, day, kind) DO UPDATE SET count = {table}.count + excluded.count "
                f"WHERE {table}.count + excluded.count <= %s RETURNING count",
                [user.pk, day, kind, amount, limit],
            )
            reserved = cursor.fetchone() is not None
    if not reserved:
        record_event(
            action="facility.bulk_limit_exceeded",
            request=request,
            actor=user,
            organisation=getattr(user, "organisation", None),
            data={"kind": str(kind), "requested": amount, "limit": limit, "day": day.isoformat()},
        )
    return reserved
