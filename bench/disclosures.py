"""The operators' accounting of disclosures at size: seed N access records (default 1,000,000) over one fiscal
year via COPY, then time one operator's accounting (audit.disclosure_accounting) with the GIN index on
`facility_ids` against the same query with the index dropped (inside a rolled-back transaction), and the cost
of the index on writes (COPY of a batch with and without it).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/renergy_bench_disclosures \
        .venv/bin/python bench/disclosures.py [--records 1000000 --own 200 --fiscal-year 2025]

Needs a migrated database and a role that may DROP the index (the owner or a superuser): run
`manage.py migrate` first. Seeding is skipped when the year already holds N records.

Measured on the shared 2-core machine (1,000,000 records, half of them disclosing 1–100 facility IDs drawn from a
pool of 1,000,000; an operator with 200 facilities; 3,973 lines): 1.6 s with the index against 36.5 s without it
(×22 faster; a first run with JIT on took 6.4 s, of which most was compiling the plan, hence `jit = off`). The
index took 640 MB for these 1M records, and COPY of 100,000 records took 29.2 s with it against 9.0 s without
(×3.25, about 0.2 ms more per record written).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.dev")
os.environ["DEBUG"] = "0"

import django

django.setup()

from django.db import connection, transaction  # noqa: E402

from accounts.models import AccountStatus, Organisation, OrganisationKind, User  # noqa: E402
from audit.disclosure_accounting import operator_disclosures  # noqa: E402
from audit.hashing import ACCESS_FIELDS  # noqa: E402
from audit.inspection import fiscal_year_bounds  # noqa: E402
from audit.partitions import ensure_partitions  # noqa: E402
from certifications.models import Facility  # noqa: E402
from renergy.databases import long_statements  # noqa: E402

POOL = 1_000_000  # facility IDs the records name (the register's size)
ROUTES = [
    # (share, route, disclosure kind, ids per record) as in bench/audit.py
    (0.50, "accounts:home", "", 0),
    (0.30, "certifications:list", "list", 50),
    (0.15, "certifications:detail", "detail", 1),
    (0.05, "certifications:export_csv", "export", 100),
]
FIELDS = ["facility_id", "power_source", "capacity_kw", "plant_name", "operator_name", "certified_on"]
INDEX = "audit_access_facility_ids"


def facility_id(n: int) -> str:
    return f"FB{n:09d}"


def cast(own: int) -> tuple[User, list[tuple[int, int, str]], list[str]]:
    operator = Organisation.objects.get_or_create(
        name="ベンチ認定事業者", defaults={"kind": OrganisationKind.OPERATOR}
    )[0]
    person = User.objects.get_or_create(
        email="bench-operator@bench.example.jp",
        defaults={"name": "bench operator", "organisation": operator, "status": AccountStatus.ACTIVE},
    )[0]
    rng = random.Random(11)
    own_ids = [facility_id(n) for n in rng.sample(range(POOL), own)]
    Facility.objects.bulk_create(
        [
            Facility(
                facility_id=fid, operator_name="ベンチ認定事業者", certified_on="2020-04-01", power_source="solar",
                capacity_kw=49.5, plant_name=f"ベンチ発電所{fid[-4:]}", prefecture_code="13",
                municipality_code="131016", site_address="-", supply_area="tokyo", organisation=operator,
            )
            for fid in own_ids
        ],
        ignore_conflicts=True,
    )  # fmt: skip
    own_ids = list(Facility.objects.filter(organisation=operator).values_list("facility_id", flat=True))
    viewers = []
    for n, kind in enumerate([OrganisationKind.AGENCY, OrganisationKind.GRID, OrganisationKind.LOCAL_GOV] * 4):
        extra = {"supply_area": "tokyo"} if kind == OrganisationKind.GRID else {}
        if kind == OrganisationKind.LOCAL_GOV:
            extra = {"jurisdiction_code": f"{n + 1:02d}"}
        org = Organisation.objects.get_or_create(name=f"ベンチ閲覧組織{n:02d}", defaults={"kind": kind, **extra})[0]
        viewers.append((n + 1000, org.pk, kind))
    return person, viewers, own_ids


def copy_records(count: int, start, end, viewers, rng: random.Random) -> float:
    ensure_partitions(start.astimezone(UTC).date(), end.astimezone(UTC).date())
    step = (end - start).total_seconds() / count
    shares = [r[0] for r in ROUTES]
    moment = start.astimezone(UTC)
    started = time.monotonic()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY audit_accessrecord ({', '.join(ACCESS_FIELDS)}) FROM STDIN") as copy,
    ):
        for n in range(count):
            moment = min(moment + timedelta(seconds=step * rng.uniform(0.5, 1.5)), end - timedelta(microseconds=n + 1))
            user_id, org_id, role = rng.choice(viewers)
            _share, route, kind, size = rng.choices(ROUTES, weights=shares)[0]
            ids = [facility_id(rng.randrange(POOL)) for _ in range(size)] if size else None
            values = {
                "at": moment, "request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "user_id": user_id,
                "organisation_id": org_id, "role": role, "session_hash": "", "ip": "10.0.0.1",
                "user_agent": "bench", "method": "GET", "path": "/facilities/", "query": "", "route": route,
                "status": 200, "duration_ms": 10, "disclosure_kind": kind,
                "facility_ids": json.dumps(ids) if ids else None, "fields": json.dumps(FIELDS) if ids else None,
                "row_count": size, "part": 0,
            }  # fmt: skip
            copy.write_row([values[c] for c in ACCESS_FIELDS])
    return time.monotonic() - started


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.monotonic()
        result = fn()
        times.append(time.monotonic() - started)
    return statistics.median(times), result


def main() -> None:
    with long_statements():  # seeding and the unindexed baseline outlast a request's limit
        run()


def run() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--own", type=int, default=200, help="facilities of the operator whose accounting is timed")
    parser.add_argument("--fiscal-year", type=int, default=2025)
    parser.add_argument("--write-batch", type=int, default=100_000, help="0: skip the cost-on-writes part")
    args = parser.parse_args()
    start, end = fiscal_year_bounds(args.fiscal_year)
    person, viewers, own_ids = cast(args.own)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_accessrecord WHERE at >= %s AND at < %s", [start, end])
        present = cursor.fetchone()[0]
    if present < args.records:
        print(f"seeding {args.records - present:,} access records via COPY …", flush=True)
        elapsed = copy_records(args.records - present, start, end, viewers, random.Random(7))
        print(f"seeded in {elapsed:.0f}s")
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE audit_accessrecord")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_accessrecord WHERE at >= %s AND at < %s", [start, end])
        rows = cursor.fetchone()[0]
        cursor.execute(
            "SELECT pg_size_pretty(sum(pg_relation_size(i.indexrelid))) FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid WHERE c.relname LIKE %s",
            ["%facility_ids%"],
        )
        index_size = cursor.fetchone()[0]
    print(f"FY{args.fiscal_year}: {rows:,} access records; operator owns {len(own_ids)} facilities; "
          f"GIN index on facility_ids: {index_size}")  # fmt: skip

    def accounting() -> list:
        return operator_disclosures(user=person, start=start, end=end)

    accounting()  # warm the cache for both measurements alike
    with_index, lines = timed(accounting, 5)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX {INDEX}")
        accounting()
        without_index, lines_without = timed(accounting, 3)
        transaction.set_rollback(True)
    assert len(lines) == len(lines_without)
    print(f"accounting ({len(lines)} lines): {with_index * 1000:.0f} ms with the index, "
          f"{without_index * 1000:.0f} ms without it (×{without_index / with_index:.1f} slower without)")  # fmt: skip

    if not args.write_batch:
        return
    # The index's cost on writes: the same batch COPY'd with and without it (both rolled back).
    rng_seed = 99
    with transaction.atomic():
        indexed = copy_records(args.write_batch, start, end, viewers, random.Random(rng_seed))
        transaction.set_rollback(True)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"DROP INDEX {INDEX}")
        plain = copy_records(args.write_batch, start, end, viewers, random.Random(rng_seed))
        transaction.set_rollback(True)
    print(f"writes: {args.write_batch:,} records COPY'd in {indexed:.1f}s with the index, {plain:.1f}s without "
          f"(×{indexed / plain:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
