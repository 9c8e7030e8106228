"""Monthly partitions of the access records: create ahead, export and drop past retention.

Partitions are by calendar month in UTC. They are created by audit_ensure_partition() (migration 0002),
which runs as the owner whoever calls it: the worker's daily job ahead of time, and the writer as a last
resort (audit.writer), so a stopped beat degrades into slower first writes, never into lost records.
Retention detaches and drops partitions: DDL only the owner connection may run.
The GIN index on facility_ids (disclosure accounting) takes new entries into its pending list; merging the
list into the index is left to the worker (disclosure_index_merge), which the index's owner must run.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from renergy.databases import OWNER_ALIAS

logger = logging.getLogger(__name__)

PARENT = "audit_accessrecord"
FACILITY_IDS_INDEX = "audit_access_facility_ids"  # audit.models.AccessRecord.Meta.indexes


def month_start(day: date | datetime) -> date:
    return date(day.year, day.month, 1)


def next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def ensure_partition(month: date, *, using: str = DEFAULT_DB_ALIAS) -> bool:
    """Create the partition holding `month` unless it exists; True when it was created."""
    month = month_start(month)
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT audit_ensure_partition(%s)", [month])
        created = cursor.fetchone()[0]
    if created:
        logger.info("audit: created partition %s", partition_name(month))
    return created


def ensure_partitions(start: date, end: date, *, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Every month from `start` to `end` inclusive; returns the names created."""
    created = []
    month = month_start(start)
    while month <= end:
        if ensure_partition(month, using=using):
            created.append(partition_name(month))
        month = next_month(month)
    return created


def ensure_ahead(months: int | None = None, *, today: date | None = None, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """The scheduled job: this month and the next AUDIT_PARTITIONS_AHEAD months."""
    months = settings.AUDIT_PARTITIONS_AHEAD if months is None else months
    month = month_start(today or datetime.now(UTC).date())
    last = month
    for _ in range(months):
        last = next_month(last)
    return ensure_partitions(month, last, using=using)


def existing_partitions(*, using: str = DEFAULT_DB_ALIAS) -> list[tuple[str, date]]:
    with connections[using].cursor() as cursor:
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
        connections[OWNER_ALIAS].cursor() as cursor,
        target.open("wb") as out,
        cursor.cursor.copy(f"COPY {name} TO STDOUT WITH (FORMAT csv, HEADER true)") as copy,
    ):
        for chunk in copy:
            out.write(chunk)
    return target


def drop_expired(*, today: date | None = None, directory: Path | None = None) -> list[Path]:
    """Export then drop every partition wholly older than AUDIT_RETENTION_YEARS.

    Dropping a partition bypasses the append-only row trigger by design: retention is the one
    sanctioned removal, and it leaves the CSV behind first. It runs on the owner connection: the
    runtime role can neither detach nor drop.
    """
    cutoff = retention_cutoff(today)
    directory = directory or Path(settings.AUDIT_ARCHIVE_DIR)
    exported = []
    for name, month in existing_partitions(using=OWNER_ALIAS):
        if next_month(month) <= cutoff:
            path = export_partition(name, directory)
            with connections[OWNER_ALIAS].cursor() as cursor:
                cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
                cursor.execute(f"DROP TABLE {name}")
            logger.warning("audit: retention exported %s to %s and dropped it", name, path)
            exported.append(path)
    return exported


def disclosure_index_merge(*, using: str = OWNER_ALIAS) -> int:
    """Merge the pending list of every partition's facility_ids index into the index (as VACUUM would, which
    does not run often enough on an append-only table); the pending pages merged."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(gin_clean_pending_list(inhrelid::regclass)), 0)::bigint FROM pg_inherits "
            "WHERE inhparent = %s::regclass",
            [FACILITY_IDS_INDEX],
        )
        return int(cursor.fetchone()[0])
