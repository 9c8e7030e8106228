"""Monthly partitions of the access records on PostgreSQL: create ahead, export and drop past retention.

Partitions are by calendar month in UTC. A missing partition is created on demand by the writer as a
last resort (audit.writer), so a stopped beat degrades into slower first writes, never into lost records.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection

logger = logging.getLogger(__name__)

PARENT = "audit_accessrecord"


def month_start(day: date | datetime) -> date:
    return date(day.year, day.month, 1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def _bound(month: date) -> str:
    return datetime(month.year, month.month, 1, tzinfo=UTC).isoformat()


def uses_partitions() -> bool:
    return connection.vendor == "postgresql"


def ensure_partition(month: date) -> bool:
    """Create the partition holding `month` unless it exists; True when it was created."""
    if not uses_partitions():
        return False
    month = month_start(month)
    name = partition_name(month)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        if cursor.fetchone()[0]:
            return False
        # Identifiers are built from integers only (partition_name), bounds from dates: no user input.
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {PARENT} "
            f"FOR VALUES FROM ('{_bound(month)}') TO ('{_bound(next_month(month))}')"
        )
        # The every-minute sealing reads the newest minute through the BRIN index: summarise each block
        # range as soon as it fills, or the unsummarised tail is rechecked row by row on every run.
        cursor.execute(f"ALTER INDEX {name}_at_idx SET (autosummarize = on)")
        # Statement triggers are not inherited: each partition refuses TRUNCATE itself (migration 0002).
        cursor.execute(
            f"CREATE TRIGGER audit_refuse_truncate BEFORE TRUNCATE ON {name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )
    logger.info("audit: created partition %s", name)
    return True


def ensure_partitions(start: date, end: date) -> list[str]:
    """Every month from `start` to `end` inclusive; returns the names created."""
    created = []
    month = month_start(start)
    while month <= end:
        if ensure_partition(month):
            created.append(partition_name(month))
        month = next_month(month)
    return created


def ensure_ahead(months: int | None = None, *, today: date | None = None) -> list[str]:
    """The scheduled job: this month and the next AUDIT_PARTITIONS_AHEAD months."""
    months = settings.AUDIT_PARTITIONS_AHEAD if months is None else months
    month = month_start(today or datetime.now(UTC).date())
    last = month
    for _ in range(months):
        last = next_month(last)
    return ensure_partitions(month, last)


def existing_partitions() -> list[tuple[str, date]]:
    if not uses_partitions():
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s ORDER BY c.relname",
            [PARENT],
        )
        names = [row[0] for row in cursor.fetchall()]
    out = []
    for name in names:
        suffix = name.removeprefix(PARENT + "_y")
        out.append((name, date(int(suffix[:4]), int(suffix[5:7]), 1)))
    return out


def retention_cutoff(today: date | None = None) -> date:
    today = today or datetime.now(UTC).date()
    return month_start(date(today.year - settings.AUDIT_RETENTION_YEARS, today.month, 1))


def export_partition(name: str, directory: Path) -> Path:
    """Write a partition to CSV with COPY (the archive the retention job keeps before dropping)."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.csv"
    # Django's cursor wraps psycopg's; COPY streams through the raw one.
    with (
        connection.cursor() as cursor,
        target.open("wb") as out,
        cursor.cursor.copy(f"COPY {name} TO STDOUT WITH (FORMAT csv, HEADER true)") as copy,
    ):
        for chunk in copy:
            out.write(chunk)
    return target


def drop_expired(*, today: date | None = None, directory: Path | None = None) -> list[Path]:
    """Export then drop every partition wholly older than AUDIT_RETENTION_YEARS.

    Dropping a partition bypasses the append-only row trigger by design: retention is the one
    sanctioned removal, and it leaves the CSV behind first.
    """
    if not uses_partitions():
        return []
    cutoff = retention_cutoff(today)
    directory = directory or Path(settings.AUDIT_ARCHIVE_DIR)
    exported = []
    for name, month in existing_partitions():
        if next_month(month) <= cutoff:
            path = export_partition(name, directory)
            with connection.cursor() as cursor:
                cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
                cursor.execute(f"DROP TABLE {name}")
            logger.warning("audit: retention exported %s to %s and dropped it", name, path)
            exported.append(path)
    return exported
