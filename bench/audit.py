"""The audit trail at a year's real size: seed N access records (default 10,000,000) for one fiscal year via
COPY, then time the fiscal-year report and the raw CSV download beside a raw `COPY` of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/renergy_bench_h3 REDIS_URL=redis://127.0.0.1:6379/13 \
        .venv/bin/python bench/audit.py [--records 10000000 --fiscal-year 2025 --skip-seed --seal-verify]

--seal-verify seals and verifies the first month (signed per-minute seals, anchors, every record's hash
recomputed in SQL) and prints both rates beside a raw COPY of the same rows, plus the cost of sealing the
single next minute (what the every-minute job does). --seed-months K puts all N records into the first K
months, to reach a full year's density per minute with fewer rows on a small machine; --skip-report runs
only the sealing part; --reseal removes the bench database's seals and anchors first (as a superuser owner),
so the seal bench can run again on the same records.

Seeding is skipped when the year already holds at least N records. The CSV goes through the real view
(Django test client, full middleware stack, contractor session) and is consumed chunk by chunk; the
process's peak RSS is printed before and after to show that memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.dev")
os.environ["DEBUG"] = "0"
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import AccountStatus, Organisation, OrganisationKind, User  # noqa: E402
from accounts.testing import signed_in_client  # noqa: E402
from audit.hashing import ACCESS_FIELDS  # noqa: E402
from audit.inspection import JST, fiscal_year_bounds  # noqa: E402
from audit.partitions import ensure_partitions  # noqa: E402
from audit.report import CSV_COLUMNS, fiscal_year_report, write_xlsx  # noqa: E402
from renergy.databases import OWNER_ALIAS, long_statements  # noqa: E402

COLUMNS = ACCESS_FIELDS  # the database computes record_hash on INSERT (COPY included)
ROUTES = [
    # (share, route, path, disclosure kind, ids per record)
    (0.50, "accounts:home", "/", "", 0),
    (0.30, "certifications:list", "/facilities/", "list", 50),
    (0.15, "certifications:detail", "/facilities/{id}/", "detail", 1),
    (0.05, "certifications:export_csv", "/facilities/export.csv", "export", 100),
]
FIELDS = ["facility_id", "power_source", "capacity_kw", "plant_name", "operator_name", "certified_on"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cast(fiscal_year: int) -> list[User]:
    people = []
    kinds = [OrganisationKind.AGENCY, OrganisationKind.BUREAU, OrganisationKind.GRID, OrganisationKind.LOCAL_GOV,
             OrganisationKind.OPERATOR]  # fmt: skip
    for n in range(40):
        kind = kinds[n % len(kinds)]
        extra = {"supply_area": "tokyo"} if kind == OrganisationKind.GRID else {}
        if kind == OrganisationKind.LOCAL_GOV:
            extra = {"jurisdiction_code": f"{n % 47 + 1:02d}"}
        org = Organisation.objects.get_or_create(name=f"ベンチ組織{n:02d}", defaults={"kind": kind, **extra})[0]
        for k in range(50):
            people.append(
                User.objects.get_or_create(
                    email=f"bench-{n}-{k}@bench.example.jp",
                    defaults={"name": f"bench {n}-{k}", "organisation": org, "status": AccountStatus.ACTIVE},
                )[0]
            )
    return people


def seed(records: int, fiscal_year: int, months: int = 12) -> float:
    start, end = fiscal_year_bounds(fiscal_year)
    if months < 12:
        local = start.astimezone(JST)
        end = datetime(
            local.year + (local.month + months - 1) // 12, (local.month + months - 1) % 12 + 1, 1, tzinfo=JST
        )
    ensure_partitions(start.astimezone(UTC).date(), end.astimezone(UTC).date())
    people = [(u.pk, u.organisation_id, u.organisation.kind) for u in cast(fiscal_year)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT facility_id FROM certifications_facility LIMIT 200000")
        facility_ids = [row[0] for row in cursor.fetchall()] or [f"F{i:09d}" for i in range(200000)]
    rng = random.Random(7)
    span = (end - start).total_seconds()
    step = span / records
    shares = [r[0] for r in ROUTES]
    started = time.monotonic()
    moment = start.astimezone(UTC)
    with (
        long_statements(),
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY audit_accessrecord ({', '.join(COLUMNS)}) FROM STDIN") as copy,
    ):
        for n in range(records):
            moment += timedelta(seconds=step * rng.uniform(0.5, 1.5))
            if moment >= end:
                moment = end - timedelta(microseconds=records - n)
            user_id, org_id, role = rng.choice(people)
            _share, route, path, kind, count = rng.choices(ROUTES, weights=shares)[0]
            ids = rng.sample(facility_ids, count) if count else None
            values = {
                "at": moment, "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "user_id": user_id,
                "organisation_id": org_id, "role": role, "session_hash": f"{rng.getrandbits(256):064x}",
                "ip": f"10.{org_id % 250}.{user_id % 250}.{rng.randint(1, 3)}", "user_agent": "Mozilla/5.0 (bench)",
                "method": "GET", "path": path.replace("{id}", ids[0] if ids else ""), "query": "", "route": route,
                "status": 200, "duration_ms": rng.randint(5, 200), "disclosure_kind": kind, "facility_ids": ids,
                "fields": FIELDS if ids else None, "row_count": count, "part": 0,
            }  # fmt: skip
            row = [values[c] for c in COLUMNS]
            row[15] = json.dumps(ids) if ids else None
            row[16] = json.dumps(FIELDS) if ids else None
            copy.write_row(row)
            if n and n % 1_000_000 == 0:
                print(f"  seeded {n:,} ({time.monotonic() - started:.0f}s)", flush=True)
    # What autovacuum does after a bulk load (autosummarize is on for each partition's BRIN index); as the owner,
    # since the runtime role may not vacuum (its VACUUM only warns and skips every partition).
    with connections[OWNER_ALIAS].cursor() as cursor:
        cursor.execute("VACUUM ANALYZE audit_accessrecord")
    return time.monotonic() - started


def contractor_client() -> Client:
    org = Organisation.objects.get_or_create(name="ベンチ委託先", defaults={"kind": OrganisationKind.CONTRACTOR})[0]
    user = User.objects.get_or_create(
        email="bench-contractor@bench.example.jp",
        defaults={"name": "bench contractor", "organisation": org, "status": AccountStatus.ACTIVE},
    )[0]
    return signed_in_client(user)


def raw_copy(start: datetime, end: datetime) -> tuple[float, int]:
    columns = ", ".join(CSV_COLUMNS)
    started = time.monotonic()
    size = 0
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY (SELECT {columns} FROM audit_accessrecord WHERE at >= %s AND at < %s) TO STDOUT WITH (FORMAT csv)",
            (start, end),
        ) as copy,
    ):
        for data in copy:
            size += len(data)
    return time.monotonic() - started, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--fiscal-year", type=int, default=2025)
    parser.add_argument("--skip-seed", action="store_true")
    parser.add_argument("--seal-verify", action="store_true", help="also seal and verify the first month")
    parser.add_argument("--seed-months", type=int, default=12, help="seed all records into the first K months")
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument(
        "--reseal", action="store_true", help="remove the bench's seals and anchors first (superuser owner only)"
    )
    args = parser.parse_args()
    start, end = fiscal_year_bounds(args.fiscal_year)

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_accessrecord WHERE at >= %s AND at < %s", [start, end])
        present = cursor.fetchone()[0]
    if present < args.records and not args.skip_seed:
        print(f"seeding {args.records - present:,} records for FY{args.fiscal_year} via COPY …", flush=True)
        elapsed = seed(args.records - present, args.fiscal_year, args.seed_months)
        print(f"seeded in {elapsed:.0f}s ({(args.records - present) / elapsed:,.0f} rows/s)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_accessrecord WHERE at >= %s AND at < %s", [start, end])
        rows = cursor.fetchone()[0]
        cursor.execute(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(i.inhrelid))) FROM pg_inherits i "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'audit_accessrecord'"
        )
        size = cursor.fetchone()[0]
    print(f"FY{args.fiscal_year}: {rows:,} access records (all partitions with indexes: {size})")

    if not args.skip_report:
        report_bench(args.fiscal_year, start, end, rows)
    if args.seal_verify:
        if args.reseal:
            seals_remove()
        seal_verify_bench(start)


def report_bench(fiscal_year: int, start: datetime, end: datetime, rows: int) -> None:
    rss_before = rss_mb()
    started = time.monotonic()
    report = fiscal_year_report(fiscal_year)
    figures = time.monotonic() - started
    xlsx_path = Path("/tmp/bench-audit-report.xlsx")  # noqa: S108 - a bench artefact
    started = time.monotonic()
    with xlsx_path.open("wb") as handle:
        write_xlsx(report, handle)
    xlsx = time.monotonic() - started
    print(f"fiscal-year report: figures {figures:.1f}s + XLSX {xlsx:.2f}s = {figures + xlsx:.1f}s "
          f"({xlsx_path.stat().st_size / 1024:.0f} KiB); {report.verification['text']}")  # fmt: skip

    copy_seconds, copy_bytes = raw_copy(start, end)
    print(f"raw COPY of the same rows: {copy_seconds:.1f}s, {rows / copy_seconds:,.0f} rows/s, "
          f"{copy_bytes / copy_seconds / 1e6:.0f} MB/s")  # fmt: skip

    client = contractor_client()
    started = time.monotonic()
    response = client.get(f"/audit/reports/{fiscal_year}/records.csv")
    assert response.status_code == 200, response.status_code
    size = lines = 0
    for chunk in response.streaming_content:
        size += len(chunk)
        lines += chunk.count(b"\r\n")
    response.close()
    csv_seconds = time.monotonic() - started
    print(f"CSV download through the view: {csv_seconds:.1f}s, {(lines - 1) / csv_seconds:,.0f} rows/s, "
          f"{size / csv_seconds / 1e6:.0f} MB/s ({size / 1e9:.2f} GB, {lines - 1:,} rows) = "
          f"{copy_seconds / csv_seconds:.2f}x raw COPY")  # fmt: skip
    print(f"peak RSS: {rss_before:.0f} MB before the report, {rss_mb():.0f} MB after report + CSV")


def seals_remove() -> None:
    """Start the seal bench again on the same records: what only a superuser can do (the tables refuse DELETE),
    and what verification would name as missing seals anywhere but on a bench database."""
    owner = connections[OWNER_ALIAS]
    with owner.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        cursor.execute("DELETE FROM audit_auditseal")
        cursor.execute("RESET session_replication_role")
        cursor.execute("VACUUM ANALYZE audit_auditseal")  # the deleted seals' index entries, as on a fresh database
    owner.close()
    if settings.AUDIT_ANCHOR_DIR:
        for path in Path(settings.AUDIT_ANCHOR_DIR).glob("seals-*.jsonl"):
            path.unlink()


def seal_verify_bench(start: datetime) -> None:
    """Seal, then verify, the first month; each beside a raw COPY of the same rows in the same run."""
    from audit.sealing import seal_pending, verify

    local = start.astimezone(JST)
    month_end = datetime(local.year + local.month // 12, local.month % 12 + 1, 1, tzinfo=JST)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditseal")
        if cursor.fetchone()[0]:
            print("seal bench: the database already holds seals; use a fresh bench database")
            return
        cursor.execute("SELECT count(*) FROM audit_accessrecord WHERE at >= %s AND at < %s", [start, month_end])
        count = cursor.fetchone()[0]
    copy_seconds, _size = raw_copy(start, month_end)
    print(
        f"first month: {count:,} records; raw COPY of the same rows {copy_seconds:.2f}s ({count / copy_seconds:,.0f}/s)"
    )
    grace = timedelta(seconds=settings.AUDIT_SEAL_GRACE_SECONDS)
    started = time.monotonic()
    seals = seal_pending(now=month_end + grace)
    sealed = time.monotonic() - started
    print(f"sealing: {sealed:.2f}s for {seals:,} signed, anchored seals = {count / sealed:,.0f} records/s "
          f"({copy_seconds / sealed:.2f}x raw COPY)")  # fmt: skip
    started = time.monotonic()
    result = verify(start, month_end, now=month_end + grace, save=False)
    verified = time.monotonic() - started
    print(f"verification: {verified:.2f}s for {result.records_checked:,} records in {result.seals_checked:,} seals "
          f"= {result.records_checked / verified:,.0f} records/s ({copy_seconds / verified:.2f}x raw COPY); "
          f"signatures {result.signatures}, anchors {result.anchors}: "
          f"{'OK' if result.ok else result.first_problem}")  # fmt: skip
    timings = []
    for minute in range(1, 6):
        started = time.monotonic()
        seal_pending(now=month_end + grace + timedelta(minutes=minute))
        timings.append((time.monotonic() - started) * 1000)
    print(f"sealing one more minute (the every-minute job): {', '.join(f'{t:.1f}' for t in timings)} ms")


if __name__ == "__main__":
    main()
