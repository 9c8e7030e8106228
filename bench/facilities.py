"""Facility search and export at real size, through the real views (Django test client, full middleware stack
with the audit records written), each list figure beside the same SQL run directly (EXPLAIN ANALYZE).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/renergy_bench .venv/bin/python manage.py migrate
    DATABASE_URL=... .venv/bin/python manage.py generate_facilities --count 1000000 --seed 7
    DATABASE_URL=... .venv/bin/python bench/facilities.py [--repeat 20 --rounds 2] [--no-export]
    DATABASE_URL=... .venv/bin/python bench/facilities.py --export-only [--repeat 7]

Search: every role's scope × every sort the list offers × (no filter, the role's usual filter) × (page 1, a
deep keyset page: the page after the first 1,000 rows), plus the filter and text combinations of daily work.
Each combination is sampled in `--rounds` rounds spread over the run (so each sees the same moment-to-moment
load of a shared machine), alternating one request through the view with one EXPLAIN (ANALYZE) of every
facility query that request ran (the page and its count), whose planning + execution time is the "psql"
column. The matrix runs twice: with the statistics as the database has them (as the generator or importer
left them), then after certifications.planner.facility_statistics_refresh() (VACUUM (ANALYZE)); both are
printed so a plan that depends on fresh statistics (or on the visibility map) shows.
The budget is p95 <= 50 ms at 1,000,000 facilities and <= 100 ms at 3,500,000.

Requests slower than the budget are listed with where their time went (facility SQL, audit INSERT, usage
counter, other SQL, garbage collection, the rest: Python), which is how the tails were traced.

Export: CSV/XLSX rows/s beside a raw `COPY (SELECT the same columns ...) TO STDOUT` of the same rows.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "renergy.settings.test")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
os.environ.setdefault("FACILITY_DAILY_DETAIL_LIMIT", "1000000")
os.environ.setdefault("FACILITY_DAILY_LIST_ROW_LIMIT", "100000000")
os.environ.setdefault("FACILITY_DAILY_EXPORT_ROW_LIMIT", "100000000")
os.environ.setdefault("FACILITY_EXPORT_MAX_ROWS", "1000000")  # pref=23 is 210,452 rows at 3,500,000

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

import renergy.wsgi  # noqa: E402, F401 - the process as gunicorn loads it (its gc.freeze included)
from accounts.models import AccountStatus, Organisation, OrganisationKind, User  # noqa: E402
from accounts.testing import signed_in_client  # noqa: E402
from certifications.models import Facility  # noqa: E402
from certifications.planner import FACILITY_TABLES, facility_statistics_refresh  # noqa: E402
from certifications.policy import allowed_columns, allowed_fields  # noqa: E402
from certifications.search import SORTS, FacilitySearchForm, search_page  # noqa: E402
from renergy.geography import SupplyArea  # noqa: E402

URL = "/facilities/"
FACILITY_TABLE = Facility._meta.db_table


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


def load() -> str:
    return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())


# --- where a request's time goes ---------------------------------------------------------------------------


@dataclass
class Trace:
    """Milliseconds per part of one request, from a connection execute wrapper and gc callbacks."""

    total: float = 0.0
    parts: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    facility_sql: list[tuple[str, tuple]] = field(default_factory=list)

    def rest(self) -> float:
        return self.total - sum(self.parts.values())


def _kind(sql: str) -> str:
    if FACILITY_TABLE in sql and not sql.startswith("INSERT"):
        return "facility SQL"
    if sql.startswith("INSERT INTO audit_"):
        return "audit INSERT"
    if "certifications_dailyusage" in sql or "synchronous_commit" in sql:
        return "usage counter"
    return "other SQL"


class Tracer:
    def __init__(self) -> None:
        self.current: Trace | None = None
        self._gc_started = 0.0
        gc.callbacks.append(self._gc)

    def _gc(self, phase: str, info: dict) -> None:
        if self.current is None:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.current.parts["gc"] += (time.perf_counter() - self._gc_started) * 1000

    def _wrap(self, execute: Callable, sql: str, params: tuple, many: bool, context: dict):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            if self.current is not None:
                kind = _kind(sql)
                self.current.parts[kind] += (time.perf_counter() - started) * 1000
                if kind == "facility SQL":
                    self.current.facility_sql.append((sql, params))

    def get(self, client: Client, url: str, params: dict) -> tuple[Trace, int]:
        trace = Trace()
        # Each request of Django's test client connects signal receivers bound to the client, and each such
        # connect leaves a weakref.finalize alive for as long as the client lives: three objects per request,
        # tens of thousands over a run, which made the bench's own full collections (60 ms) the list's tail.
        # A client per request with the same session cookie is what a browser's requests look like to the
        # server, and leaves nothing behind.
        fresh = Client()
        fresh.cookies = client.cookies
        self.current = trace
        with connection.execute_wrapper(self._wrap):
            started = time.perf_counter()
            response = fresh.get(url, params)
            trace.total = (time.perf_counter() - started) * 1000
        self.current = None
        return trace, response.status_code


def explain_ms(statements: list[tuple[str, tuple]]) -> tuple[float, str]:
    """Planning + execution time of the statements run directly (EXPLAIN ANALYZE; an EXPLAIN that the view
    ran for a count estimate is timed as it is), and a short name of the page query's plan."""
    total = 0.0
    plan_name = ""
    with connection.cursor() as cursor:
        for sql, params in statements:
            if sql.startswith("EXPLAIN"):
                started = time.perf_counter()
                cursor.execute(sql, params)
                cursor.fetchall()
                total += (time.perf_counter() - started) * 1000
                continue
            cursor.execute(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {sql}", params)
            raw = cursor.fetchone()[0]
            result = (json.loads(raw) if isinstance(raw, str) else raw)[0]
            total += result["Planning Time"] + result["Execution Time"]
            if not plan_name and "COUNT(" not in sql.upper():
                plan_name = _plan_name(result["Plan"])
    return total, plan_name


def _plan_name(node: dict) -> str:
    """The first node below Limit that decides the plan: an index walked in order, or a sort."""
    while node.get("Node Type") in ("Limit", "Gather Merge", "Gather") and node.get("Plans"):
        # An InitPlan (the municipality scope's key array) is computed once beside the plan, not its first step.
        node = next(child for child in node["Plans"] if child.get("Parent Relationship") != "InitPlan")
    kind = node.get("Node Type", "")
    if kind == "Sort":
        return "Sort(" + _plan_name(node["Plans"][0]) + ")"
    if "Join" in kind or kind == "Nested Loop":
        return kind.replace("Nested Loop", "NL") + "(" + _plan_name(node["Plans"][0]) + ")"
    if "Index" in kind:
        return f"{kind.replace(' Scan', '').replace('Index Only', 'IdxOnly')}:{node.get('Index Name', '')}"
    if kind == "Bitmap Heap Scan":
        return "Bitmap"
    return kind


# --- the matrix ------------------------------------------------------------------------------------------


@dataclass
class Combo:
    label: str
    client: Client
    params: dict
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    direct: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    plans: dict[str, str] = field(default_factory=dict)
    status: int = 0


def deep_cursor(user: User, params: dict) -> str | None:
    """The cursor after the first 1,000 rows of the search (page 21), as the list's next link would carry."""
    form = FacilitySearchForm(params, allowed=allowed_fields(user))
    return search_page(user, form, page_size=1000).next_cursor


def build_matrix(cast: dict[str, tuple[User, Client]]) -> list[Combo]:
    role_filters: dict[str, tuple[str, dict]] = {
        "agency": ("area=kansai+solar", {"area": "kansai", "source": "solar"}),
        "grid tokyo": (">=1000 kW", {"cap_min": "1000"}),
        "local gov pref 23": ("certified", {"status": "certified"}),
        "local gov muni 232114": ("<10 kW", {"cap_max": "9.999"}),
        "operator": ("pref=13", {"pref": "13"}),
    }
    combos: list[Combo] = []
    for role, (user, client) in cast.items():
        filter_label, filter_params = role_filters[role]
        for sort in SORTS:
            for label_filter, base in (("no filter", {}), (filter_label, filter_params)):
                params = {**base, "sort": sort}
                combos.append(Combo(f"{role}: {label_filter}, sort {sort}", client, params))
                cursor = deep_cursor(user, params)
                if cursor:
                    combos.append(
                        Combo(f"{role}: {label_filter}, sort {sort}, page 21", client, {**params, "after": cursor})
                    )
    agency = cast["agency"][1]
    grid = cast["grid tokyo"][1]
    daily = [
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
        ("agency: area=chubu + pref=22 (split prefecture)", agency, {"area": "chubu", "pref": "22"}),
        ("agency: text q=エナジー", agency, {"q": "エナジー"}),
        ("agency: text q=佐藤 + pref=13", agency, {"q": "佐藤", "pref": "13"}),
        (
            "grid tokyo: 49.5-50 kW, sort certified_on",
            grid,
            {"cap_min": "49.5", "cap_max": "50", "sort": "certified_on"},
        ),
        ("grid tokyo: text q=太陽光", grid, {"q": "太陽光"}),
    ]
    combos += [Combo(label, client, params) for label, client, params in daily]
    return combos


def run_matrix(combos: list[Combo], tracer: Tracer, phase: str, repeat: int, rounds: int, slow: list) -> None:
    per_round = max(1, repeat // rounds)
    budget = budget_ms()
    for round_number in range(rounds):
        print(f"  {phase}: round {round_number + 1}/{rounds} ({load()})", flush=True)
        for combo in combos:
            for _ in range(2 if round_number == 0 else 1):  # warm-up: this combination's pages and plans
                tracer.get(combo.client, URL, combo.params)
            for _ in range(per_round):
                trace, combo.status = tracer.get(combo.client, URL, combo.params)
                combo.samples[phase].append(trace.total)
                direct, plan = explain_ms(trace.facility_sql)
                combo.direct[phase].append(direct)
                combo.plans[phase] = plan
                if trace.total > budget:
                    slow.append((phase, combo.label, trace))


def budget_ms() -> float:
    return 50.0 if FACILITY_COUNT < 2_000_000 else 100.0


def statistics_state() -> str:
    with connection.cursor() as cursor:
        # pg_stats, not pg_statistic: the bench runs as the runtime role, which may read the view only.
        cursor.execute("SELECT count(*) FROM pg_stats WHERE tablename = %s", [FACILITY_TABLE])
        columns = cursor.fetchone()[0]
        cursor.execute(
            "SELECT last_analyze, last_autoanalyze, n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = %s",
            [FACILITY_TABLE],
        )
        last, auto, modified = cursor.fetchone()
    return f"{columns} column statistics, last ANALYZE {last or auto or 'never'}, {modified:,} rows changed since"


def print_table(combos: list[Combo], phases: list[str]) -> None:
    budget = budget_ms()
    head = f"{'combination':62}"
    for phase in phases:
        head += f" | {phase + ': view p50/p95':>24} {'psql p50/p95':>13} {'ratio':>5}"
    print(head + " | plan (page query)")
    failures = 0
    for combo in combos:
        line = f"{combo.label:62}"
        for phase in phases:
            view, direct = combo.samples[phase], combo.direct[phase]
            p95 = percentile(view, 0.95)
            mark = "" if p95 <= budget else " !"
            failures += bool(mark) and phase == phases[-1]
            ratio = statistics.median(view) / max(statistics.median(direct), 0.01)
            line += (
                f" | {statistics.median(view):11.1f} /{p95:6.1f}{mark:2} {statistics.median(direct):6.1f} /"
                f"{percentile(direct, 0.95):5.1f} {ratio:5.1f}"
            )
        plans = " → ".join(dict.fromkeys(combo.plans[phase] for phase in phases))
        print(f"{line} | {plans}  ({combo.status})")
    print(f"\n{failures} of {len(combos)} combinations over the p95 budget of {budget:.0f} ms after ANALYZE")


def print_slow(slow: list, limit: int) -> None:
    if not slow:
        print("\nno request over the budget")
        return
    print(f"\n{len(slow)} requests over the budget of {budget_ms():.0f} ms; where their time went (ms):")
    totals: dict[str, float] = defaultdict(float)
    for _phase, _label, trace in slow:
        for part, ms in trace.parts.items():
            totals[part] += ms
        totals["python (rest)"] += trace.rest()
    print("  summed over all of them: " + ", ".join(f"{part} {ms:.0f}" for part, ms in sorted(totals.items())))
    for phase, label, trace in sorted(slow, key=lambda item: -item[2].total)[:limit]:
        parts = ", ".join(f"{part} {ms:.1f}" for part, ms in sorted(trace.parts.items()) if ms >= 0.5)
        print(f"  {trace.total:7.1f}  {phase:16} {label:60} {parts}, python {trace.rest():.1f}")


# --- export ---------------------------------------------------------------------------------------------

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


def export_once(agency: Client) -> None:
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


FACILITY_COUNT = 0


def main() -> None:
    global FACILITY_COUNT
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--repeat", type=int, default=None, help="samples per combination and phase (20; 7 with --export-only)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds the samples are spread over")
    parser.add_argument("--export-only", action="store_true", help="only the CSV export against a raw COPY")
    parser.add_argument("--no-export", action="store_true", help="skip the export figures")
    parser.add_argument("--only", default="", help="only combinations whose label contains this text")
    parser.add_argument("--slow", type=int, default=25, help="slow requests to list")
    args = parser.parse_args()
    FACILITY_COUNT = total = Facility.objects.count()
    print(f"facilities: {total:,}  ({load()})")

    agency = signed_in_client(person("agency", org("bench 資源エネルギー庁", OrganisationKind.AGENCY)))
    if args.export_only:
        export_only(agency, args.repeat or 7)
        return
    repeat = args.repeat or 20
    # The operator with the most facilities: the largest own-facilities scope.
    owner_id = (
        Facility.objects.filter(organisation__isnull=False)
        .values_list("organisation", flat=True)
        .order_by("organisation")
        .first()
    )
    owner_org = Organisation.objects.get(pk=owner_id)
    users = {
        "agency": User.objects.get(email="bench-agency@bench.example.jp"),
        "grid tokyo": person("grid", org("bench 東京電力PG", OrganisationKind.GRID, supply_area=SupplyArea.TOKYO)),
        "local gov pref 23": person("pref", org("bench 愛知県", OrganisationKind.LOCAL_GOV, jurisdiction_code="23")),
        "local gov muni 232114": person(
            "muni", org("bench 豊田市", OrganisationKind.LOCAL_GOV, jurisdiction_code="232114")
        ),
        "operator": person("operator", owner_org),
    }
    cast = {role: (user, agency if role == "agency" else signed_in_client(user)) for role, user in users.items()}
    combos = [combo for combo in build_matrix(cast) if args.only in combo.label]
    tracer = Tracer()
    slow: list = []
    budget = budget_ms()
    print(
        f"\n{len(combos)} combinations through the real view (audited) and directly (EXPLAIN ANALYZE), "
        f"{repeat} samples each in {args.rounds} rounds; budget p95 <= {budget:.0f} ms"
    )
    print(f"statistics as found: {statistics_state()}")
    started = time.monotonic()
    run_matrix(combos, tracer, "as found", repeat, args.rounds, slow)
    analyze_started = time.perf_counter()
    facility_statistics_refresh()
    print(f"VACUUM (ANALYZE) {', '.join(FACILITY_TABLES)}: {time.perf_counter() - analyze_started:.1f} s")
    run_matrix(combos, tracer, "after ANALYZE", repeat, args.rounds, slow)
    print(f"\nsearch latency, ms ({time.monotonic() - started:.0f} s, {load()}); ratio = view p50 / psql p50")
    print_table(combos, ["as found", "after ANALYZE"])
    print_slow(slow, args.slow)

    detail_id = Facility.objects.filter(prefecture_code="23").values_list("facility_id", flat=True).first()
    samples = [tracer.get(agency, f"/facilities/{detail_id}/", {})[0].total for _ in range(repeat)]
    print(f"\n{'agency: detail page':62} p50 {statistics.median(samples):6.1f}  p95 {percentile(samples, 0.95):6.1f}")
    if not args.no_export:
        export_once(agency)


if __name__ == "__main__":
    main()
