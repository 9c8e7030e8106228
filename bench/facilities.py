"""Facility search and export at 1,000,000 rows, through the real views (Django test client, full middleware
stack with the audit records written).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/renergy_bench_h2 .venv/bin/python manage.py migrate
    DATABASE_URL=... .venv/bin/python manage.py generate_facilities --count 1000000 --seed 7
    DATABASE_URL=... .venv/bin/python bench/facilities.py [--repeat 30]
    DATABASE_URL=... .venv/bin/python bench/facilities.py --export-only [--repeat 7]

Prints p50/p95 latency per common filter combination and per role, and export rows/s (CSV, XLSX)
beside a raw `COPY (SELECT the same columns ...) TO STDOUT` of the same rows, as ratios.
--export-only runs just the CSV export comparison: raw COPY and the view alternately, --repeat times in the
same run, and prints the medians, the view's time to first byte and the ratio (with the load average).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.test")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("FACILITY_DAILY_DETAIL_LIMIT", "1000000")
os.environ.setdefault("FACILITY_DAILY_EXPORT_ROW_LIMIT", "100000000")
os.environ.setdefault("FACILITY_EXPORT_MAX_ROWS", "200000")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from accounts.models import AccountStatus, Organisation, OrganisationKind, User  # noqa: E402
from accounts.testing import signed_in_client  # noqa: E402
from certifications.models import Facility  # noqa: E402
from certifications.policy import allowed_columns  # noqa: E402
from renergy.geography import SupplyArea  # noqa: E402


def person(name: str, org: Organisation) -> User:
    user, _created = User.objects.get_or_create(
        email=f"bench-{name}@bench.example.jp",
        defaults={"name": f"bench {name}", "organisation": org, "status": AccountStatus.ACTIVE},
    )
    return user


def org(name: str, kind: str, **extra: str) -> Organisation:
    return Organisation.objects.get_or_create(name=name, defaults={"kind": kind, **extra})[0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(client: Client, url: str, params: dict, repeat: int) -> tuple[float, float, int]:
    for _ in range(2):  # warm-up
        client.get(url, params)
    samples = []
    status = 0
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url, params)
        samples.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return statistics.median(samples), percentile(samples, 0.95), status


EXPORT_PARAMS = {"pref": "23"}


def raw_copy(agency_user: User) -> tuple[float, int]:
    """Seconds and bytes of a raw COPY of the export's rows: the agency's columns, unformatted, no sites."""
    columns = ", ".join(f'"{c}"' for c in allowed_columns(agency_user))
    with connection.cursor() as cursor:
        started = time.perf_counter()
        size = 0
        with cursor.cursor.copy(
            f"COPY (SELECT {columns} FROM certifications_facility WHERE prefecture_code = '23' "
            "ORDER BY facility_id) TO STDOUT WITH (FORMAT csv, HEADER)"
        ) as copy:
            for block in copy:
                size += len(block)
        return time.perf_counter() - started, size


def view_export(client: Client, fmt: str) -> tuple[float, float, int, int]:
    """Seconds to the last byte, seconds to the first byte, bytes and status of the export view."""
    started = time.perf_counter()
    response = client.get(f"/facilities/export.{fmt}", EXPORT_PARAMS)
    first = None
    size = 0
    for chunk in response.streaming_content:
        if first is None:
            first = time.perf_counter() - started
        size += len(chunk)
    seconds = time.perf_counter() - started
    return seconds, first if first is not None else seconds, size, response.status_code


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


def export_only(agency: Client, repeat: int) -> None:
    """The CSV export against a raw COPY of the same rows, interleaved so both see the same machine load."""
    agency_user = User.objects.get(email="bench-agency@bench.example.jp")
    rows = Facility.objects.filter(prefecture_code="23").count()
    print(f"export of pref=23 as the agency (all fields): {rows:,} rows, {repeat} runs each ({load()})")
    raw_copy(agency_user)  # warm-up: both read the same, cached pages
    view_export(agency, "csv")
    copies, views, firsts = [], [], []
    size = view_size = status = 0
    for _ in range(repeat):
        seconds, size = raw_copy(agency_user)
        copies.append(seconds)
        seconds, first, view_size, status = view_export(agency, "csv")
        views.append(seconds)
        firsts.append(first)
    copy_s, view_s, first_s = (statistics.median(values) for values in (copies, views, firsts))
    print(
        f"{'raw COPY ... TO STDOUT (csv), median':40} {copy_s:7.3f} s {rows / copy_s:12,.0f} rows/s"
        f"  {size / 1e6:6.1f} MB"
    )
    print(
        f"{'view export csv, median':40} {view_s:7.3f} s {rows / view_s:12,.0f} rows/s  {view_size / 1e6:6.1f} MB"
        f"  first byte {first_s * 1000:6.0f} ms  (status {status})"
    )
    print(f"ratio to raw COPY (median/median): {copy_s / view_s:.2f}   ({load()})")
    print("runs (copy s / view s): " + "  ".join(f"{c:.2f}/{v:.2f}" for c, v in zip(copies, views, strict=True)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement (30, or 7 with --export-only)")
    parser.add_argument("--export-only", action="store_true", help="only the CSV export against a raw COPY")
    args = parser.parse_args()
    setup_test_environment()
    total = Facility.objects.count()
    print(f"facilities: {total:,}")

    agency = signed_in_client(person("agency", org("bench 資源エネルギー庁", OrganisationKind.AGENCY)))
    if args.export_only:
        export_only(agency, args.repeat or 7)
        return
    args.repeat = args.repeat or 30
    grid = signed_in_client(
        person("grid", org("bench 東京電力PG", OrganisationKind.GRID, supply_area=SupplyArea.TOKYO))
    )
    pref = signed_in_client(person("pref", org("bench 愛知県", OrganisationKind.LOCAL_GOV, jurisdiction_code="23")))
    muni = signed_in_client(person("muni", org("bench 豊田市", OrganisationKind.LOCAL_GOV, jurisdiction_code="232114")))
    owner_org = (
        Organisation.objects.filter(kind=OrganisationKind.OPERATOR, facilities__isnull=False).order_by("pk").first()
    )
    operator = signed_in_client(person("operator", owner_org)) if owner_org else None

    url = "/facilities/"
    first_page = agency.get(url).content.decode()
    after = first_page.split("after=")[1].split('"')[0] if "after=" in first_page else ""
    combos: list[tuple[str, Client | None, dict]] = [
        ("agency: no filter", agency, {}),
        ("agency: page 2 (keyset cursor)", agency, {"after": after}),
        ("agency: area=kansai + source=solar", agency, {"area": "kansai", "source": "solar"}),
        ("agency: pref=23 + 49.5-50 kW", agency, {"pref": "23", "cap_min": "49.5", "cap_max": "50"}),
        (
            "agency: cert Feb-Mar 2014, sort -capacity",
            agency,
            {"cert_from": "2014-02-01", "cert_to": "2014-03-31", "sort": "-capacity_kw"},
        ),
        ("agency: status=lapsed + area=tokyo", agency, {"status": "lapsed", "area": "tokyo"}),
        ("agency: scheme=fip", agency, {"scheme": "fip"}),
        ("agency: source=wind, sort -capacity", agency, {"source": "wind", "sort": "-capacity_kw"}),
        ("agency: municipality=232114", agency, {"muni": "232114"}),
        ("agency: text q=エナジー", agency, {"q": "エナジー"}),
        ("agency: text q=佐藤 + pref=13", agency, {"q": "佐藤", "pref": "13"}),
        ("grid tokyo: no filter", grid, {}),
        ("grid tokyo: >=1000 kW, sort -capacity", grid, {"cap_min": "1000", "sort": "-capacity_kw"}),
        ("grid tokyo: sort certified_on", grid, {"sort": "certified_on"}),
        ("local gov pref 23: no filter", pref, {}),
        ("local gov muni 232114: no filter", muni, {}),
        ("operator (own facilities): no filter", operator, {}),
    ]
    print(f"\nsearch latency via the real view (Django test client, audited), {args.repeat} runs each")
    print(f"{'combination':48} {'p50 ms':>8} {'p95 ms':>8}  status")
    for label, client, params in combos:
        if client is None:
            continue
        p50, p95, status = timed(client, url, params, args.repeat)
        print(f"{label:48} {p50:8.1f} {p95:8.1f}  {status}")

    detail_id = Facility.objects.filter(prefecture_code="23").values_list("facility_id", flat=True).first()
    p50, p95, status = timed(agency, f"/facilities/{detail_id}/", {}, args.repeat)
    print(f"{'agency: detail page':48} {p50:8.1f} {p95:8.1f}  {status}")

    # Export: the same rows through the view and through a raw COPY of the same columns.
    rows = Facility.objects.filter(prefecture_code="23").count()
    print(f"\nexport of pref=23 as the agency (all fields): {rows:,} rows")
    copy_seconds, size = raw_copy(User.objects.get(email="bench-agency@bench.example.jp"))
    copy_rate = rows / copy_seconds
    print(f"{'raw COPY ... TO STDOUT (csv)':40} {copy_seconds:7.2f} s {copy_rate:12,.0f} rows/s  {size / 1e6:7.1f} MB")
    for fmt in ("csv", "xlsx"):
        seconds, _first, size, status = view_export(agency, fmt)
        rate = rows / seconds
        print(
            f"{'view export ' + fmt:40} {seconds:7.2f} s {rate:12,.0f} rows/s  {size / 1e6:7.1f} MB"
            f"  ratio to COPY {rate / copy_rate:.2f}  (status {status})"
        )


if __name__ == "__main__":
    main()
