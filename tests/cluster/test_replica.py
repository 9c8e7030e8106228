"""The heavy read-only paths read from a streaming replica while it keeps up; when it lags past the bound or is down
they read from the primary and the fallback is recorded. A node reads from a real standby here (pg_basebackup -R)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.cluster.harness import VENV_BIN, Cluster
from tests.cluster.web import Person, demo_email

# Wide enough that an export started just after replay was paused is still within it on a busy machine.
MAX_LAG = 5.0
MARKER = "レプリカ検証発電所"


@pytest.fixture(scope="module")
def replicated(cluster: Cluster) -> Iterator[Cluster]:
    """One node on a private primary with a streaming replica, its database copied from the main cluster's."""
    with Cluster(
        nodes=1, replica=True, celery=False, seed_from=cluster,
        env_extra={"DATABASE_REPLICA_MAX_LAG_SECONDS": str(MAX_LAG)},
    ) as running:  # fmt: skip
        yield running
    print(f"[cluster] replica cluster timings: {running.timings}")


def _replica_sql(cluster: Cluster, query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(cluster.replica_database_url, autocommit=True) as conn:
        return conn.execute(query).fetchall()


def _plant_names(person: Person) -> set[str]:
    response = person.get("/facilities/export.csv")
    assert response.status_code == 200, response.text[:500]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    column = rows[0].index("発電所名称")
    return {row[column] for row in rows[1:]}


def _fallbacks(cluster: Cluster) -> list[dict]:
    return [
        data if isinstance(data, dict) else json.loads(data)
        for (data,) in cluster.sql(
            "SELECT data FROM audit_securityevent WHERE action = 'ops.replica_fallback' ORDER BY id"
        )
    ]


def _caught_up(cluster: Cluster, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    target = cluster.sql("SELECT pg_current_wal_lsn()::text")[0][0]
    while time.monotonic() < deadline:
        if _replica_sql(cluster, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn")[0][0]:
            return
        time.sleep(0.05)
    raise AssertionError("the replica did not catch up")


def test_exports_read_from_the_replica_within_the_lag_bound_and_from_the_primary_past_it(replicated: Cluster) -> None:
    cluster = replicated
    reader = Person(cluster, demo_email("designated-officer"))
    reader.sign_in()
    facility = cluster.sql("SELECT facility_id FROM certifications_facility ORDER BY id LIMIT 1")[0][0]

    assert MARKER not in _plant_names(reader)
    _caught_up(cluster)
    _replica_sql(cluster, "SELECT pg_wal_replay_pause()")
    try:
        paused_at = time.monotonic()
        cluster.sql("UPDATE certifications_facility SET plant_name = %s WHERE facility_id = %s", [MARKER, facility])
        # Within the bound the export comes from the replica: the renamed plant is not in it yet.
        assert MARKER not in _plant_names(reader)
        assert _fallbacks(cluster) == []

        time.sleep(max(MAX_LAG + 0.5 - (time.monotonic() - paused_at), 0))
        # Past it the export reads the primary, and says so.
        assert MARKER in _plant_names(reader)
        [lagging] = _fallbacks(cluster)
        assert lagging["purpose"] == "facility_export" and lagging["reason"] == "lagging"
        assert lagging["lag_seconds"] >= MAX_LAG
        replay_lag = cluster.sql("SELECT extract(epoch FROM replay_lag) FROM pg_stat_replication")
        print(f"[cluster] replica lag seen: {lagging['lag_seconds']} s while paused (pg_stat_replication {replay_lag})")
    finally:
        _replica_sql(cluster, "SELECT pg_wal_replay_resume()")

    _caught_up(cluster)
    assert MARKER in _plant_names(reader)  # from the replica again, now that it has replayed the change
    assert len(_fallbacks(cluster)) == 1

    assert cluster.pg is not None
    cluster.pg.replica_stop()
    try:
        assert MARKER in _plant_names(reader)
        down = _fallbacks(cluster)[-1]
        assert down["purpose"] == "facility_export" and down["reason"].startswith("unreachable")
    finally:
        cluster.pg.replica_start()
    reader.close()


def test_the_report_raw_records_and_the_inspection_read_from_the_replica(replicated: Cluster) -> None:
    cluster = replicated
    admin = Person(cluster, demo_email("admin"))
    admin.sign_in()
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    year = now.year if now.month >= 4 else now.year - 1
    before = len(_fallbacks(cluster))
    _caught_up(cluster)
    assert admin.get(f"/audit/reports/{year}/", headers={}).status_code == 200

    # A record the replica has not replayed is missing from the raw CSV within the bound: it came from the replica.
    _replica_sql(cluster, "SELECT pg_wal_replay_pause()")
    try:
        probe = admin.get("/audit/reports/")
        probe_id = probe.headers["X-Request-ID"]
        records = admin.get(f"/audit/reports/{year}/records.csv")
        assert records.status_code == 200
        assert probe_id not in records.text
    finally:
        _replica_sql(cluster, "SELECT pg_wal_replay_resume()")
    _caught_up(cluster)
    assert probe_id in admin.get(f"/audit/reports/{year}/records.csv").text
    assert len(_fallbacks(cluster)) == before

    # The self-inspection's SELECTs run on the replica and its findings are written to the primary.
    script = (
        "import django; django.setup(); from audit.inspection import *; from django.utils import timezone; "
        "s, e = fiscal_year_bounds(fiscal_year_of(timezone.now())); "
        "run = inspection_create(period_start=s, period_end=e, label='replica'); "
        "print(inspection_execute(run_id=run.pk).status)"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [str(VENV_BIN / "python"), "-c", script], env=cluster.env(), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("done"), done.stderr[-2000:]
    assert len(_fallbacks(cluster)) == before
    admin.close()
