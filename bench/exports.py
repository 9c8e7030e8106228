"""Facility downloads (CSV, XLSX) through the real views against a raw `COPY` of the same rows, in one run.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/renergy_bench .venv/bin/python bench/exports.py [--repeat 5]

The database is filled once with `manage.py generate_facilities --count 1000000 --seed 7`; the export is
pref=23 (about 60,000 rows at 1,000,000 facilities) as the agency (every field). Runs are interleaved
(raw COPY, CSV, XLSX, raw COPY, …) so all see the same machine load; the medians and their ratios are
printed. Memory: the process's peak Python allocation (tracemalloc) during one export of a tenth of the
rows and of all of them — flat means the two are about equal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.test")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("FACILITY_DAILY_DETAIL_LIMIT", "1000000")
os.environ.setdefault("FACILITY_DAILY_EXPORT_ROW_LIMIT", "1000000000")
os.environ.setdefault("FACILITY_EXPORT_MAX_ROWS", "200000")
if os.environ.get("BENCH_DATABASE_URL"):
    os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from accounts.models import AccountStatus, Organisation, OrganisationKind, User  # noqa: E402
from accounts.testing import signed_in_client  # noqa: E402
from certifications.models import Facility  # noqa: E402
from certifications.policy import allowed_columns  # noqa: E402

PARAMS = {"pref": "23"}


def agency() -> tuple[User, Client]:
    org = Organisation.objects.get_or_create(name="bench 資源エネルギー庁", defaults={"kind": OrganisationKind.AGENCY})[
        0
    ]
    user = User.objects.get_or_create(
        email="bench-agency@bench.example.jp",
        defaults={"name": "bench agency", "organisation": org, "status": AccountStatus.ACTIVE},
    )[0]
    return user, signed_in_client(user)


def raw_copy(user: User) -> float:
    """A raw COPY of the export's rows: the agency's columns, unformatted, no sites, same order."""
    columns = ", ".join(f'"{c}"' for c in allowed_columns(user))
    with connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.cursor.copy(
            f"COPY (SELECT {columns} FROM certifications_facility WHERE prefecture_code = '23' "
            "ORDER BY facility_id) TO STDOUT WITH (FORMAT csv, HEADER)"
        ) as copy:
            for _block in copy:
                pass
        return time.perf_counter() - started


def view(client: Client, fmt: str, params: dict[str, str] | None = None) -> tuple[float, float, int, int]:
    """Seconds to the last byte, to the first byte, bytes, status."""
    started = time.perf_counter()
    response = client.get(f"/facilities/export.{fmt}", params or PARAMS)
    first = None
    size = 0
    for chunk in response.streaming_content:
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    seconds = time.perf_counter() - started
    return seconds, first or seconds, size, response.status_code


def peak_memory(client: Client, fmt: str, params: dict[str, str]) -> float:
    tracemalloc.start()
    view(client, fmt, params)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    setup_test_environment()
    user, client = agency()
    rows = Facility.objects.filter(prefecture_code="23").count()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"facilities: {Facility.objects.count():,}; export pref=23 as the agency: {rows:,} rows; load {load}")
    raw_copy(user)
    for fmt in ("csv", "xlsx"):
        view(client, fmt)  # warm-up
    samples: dict[str, list[float]] = {"copy": [], "csv": [], "xlsx": []}
    firsts: dict[str, list[float]] = {"csv": [], "xlsx": []}
    sizes: dict[str, int] = {}
    for _ in range(args.repeat):
        samples["copy"].append(raw_copy(user))
        for fmt in ("csv", "xlsx"):
            seconds, first, size, status = view(client, fmt)
            assert status == 200, status
            samples[fmt].append(seconds)
            firsts[fmt].append(first)
            sizes[fmt] = size
    copy_s = statistics.median(samples["copy"])
    print(f"{'raw COPY (csv, no formatting), median':42} {copy_s:7.3f} s {rows / copy_s:10,.0f} rows/s")
    for fmt in ("csv", "xlsx"):
        seconds = statistics.median(samples[fmt])
        print(
            f"{'view export ' + fmt + ', median':42} {seconds:7.3f} s {rows / seconds:10,.0f} rows/s"
            f"  {sizes[fmt] / 1e6:6.1f} MB  first byte {statistics.median(firsts[fmt]) * 1000:5.0f} ms"
            f"  ratio to raw COPY {copy_s / seconds:.2f}"
        )
    print(
        "runs (copy / csv / xlsx s): "
        + "  ".join(
            f"{c:.2f}/{v:.2f}/{x:.2f}" for c, v, x in zip(samples["copy"], samples["csv"], samples["xlsx"], strict=True)
        )
    )
    small = {"pref": "23", "cap_min": "49.5", "cap_max": "49.9"}  # about a fifth of the rows
    small_rows = Facility.objects.filter(prefecture_code="23", capacity_kw__gte=49.5, capacity_kw__lte=49.9).count()
    for fmt in ("csv", "xlsx"):
        low, high = peak_memory(client, fmt, small), peak_memory(client, fmt, PARAMS)
        print(f"peak Python memory, {fmt}: {low:6.1f} MB at {small_rows:,} rows, {high:6.1f} MB at {rows:,} rows")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load {load}")


if __name__ == "__main__":
    main()
