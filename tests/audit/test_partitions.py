"""Monthly partitions: created ahead, created on demand, exported and dropped after retention."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.utils import timezone

from audit.models import AccessRecord
from audit.partitions import drop_expired, ensure_ahead, existing_partitions, partition_name
from tests.audit.planting import plant

pytestmark = [pytest.mark.django_db(transaction=False)]


def test_the_job_creates_next_months_ahead() -> None:
    created = ensure_ahead(months=3, today=date(2031, 11, 15))
    assert created == [partition_name(date(2031, m, 1)) for m in (11, 12)] + [
        partition_name(date(2032, m, 1)) for m in (1, 2)
    ]
    assert ensure_ahead(months=3, today=date(2031, 11, 15)) == []  # idempotent


def test_a_record_for_a_month_without_partition_is_still_written(client) -> None:
    from audit.writer import write_access

    values = plant(None, datetime(2033, 6, 1, 12, tzinfo=UTC)).__dict__
    record = {k: values[k] for k in ("at", "request_id", "user_id", "organisation_id", "role", "session_hash", "ip",
                                     "user_agent", "method", "path", "query", "route", "status", "duration_ms",
                                     "disclosure_kind", "facility_ids", "fields", "row_count", "part")}  # fmt: skip
    write_access(record)
    assert AccessRecord.objects.filter(at__year=2033).count() == 1
    assert partition_name(date(2033, 6, 1)) in [name for name, _m in existing_partitions()]


# Retention runs on the owner's connection, which sees only committed rows: the planted ones are committed.
@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_retention_exports_then_drops_whole_old_partitions(tmp_path, settings) -> None:
    from tests.audit.planting import plant_all

    settings.AUDIT_RETENTION_YEARS = 5
    old = plant(None, datetime(2019, 3, 10, tzinfo=UTC), path="/old/")
    kept = plant(None, datetime(2024, 3, 10, tzinfo=UTC), path="/kept/")
    plant_all([old, kept])
    exported = drop_expired(today=date(2024, 6, 1), directory=tmp_path)
    # Cut-off 2019-06 (five years before June 2024): March to May 2019 go, each exported first.
    assert [p.name for p in exported] == [f"{partition_name(date(2019, m, 1))}.csv" for m in (3, 4, 5)]
    rows = list(csv.DictReader(exported[0].open(encoding="utf-8")))
    assert [r["path"] for r in rows] == ["/old/"]
    assert list(AccessRecord.objects.values_list("path", flat=True).filter(path__in=["/old/", "/kept/"])) == ["/kept/"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partition_name(date(2019, 3, 1))])
        assert cursor.fetchone()[0] is None
    assert timezone.now()  # the current month's partition is untouched
