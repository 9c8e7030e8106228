"""The list at size: plans right after a bulk load, the result count, list rows in the daily guard, links that
keep the search, and query-count baselines for the list, detail and export views."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from audit.models import SecurityEvent
from certifications import search
from certifications.importers import facilities_import
from certifications.models import Facility, UsageKind
from certifications.planner import facility_statistics_refresh
from certifications.policy import allowed_fields
from certifications.search import FacilitySearchForm, ResultCount, search_count, search_queryset
from tests.certifications.test_import import csv_bytes, row
from tests.certifications.test_search_export_limits import many  # noqa: F401 - the shared fixture
from tests.certifications.usage import usage_today
from tests.database import as_superuser
from tests.query_counts import SIGNED_IN, assert_query_baseline

pytestmark = pytest.mark.django_db


def _plan(user, params: dict) -> dict:
    """EXPLAIN of the list's page query for this person and these parameters, as PostgreSQL plans it."""
    form = FacilitySearchForm(params, allowed=allowed_fields(user))
    queryset = search.ordered(search_queryset(user, form), form.sort_key).values("facility_id")[:51]
    sql, sql_params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", sql_params)
        raw = cursor.fetchone()[0]
    return (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]


def _nodes(plan: dict) -> list[dict]:
    return [plan, *(node for child in plan.get("Plans", []) for node in _nodes(child))]


def _statistics_rows() -> int:
    with as_superuser(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_statistic WHERE starelid = 'certifications_facility'::regclass")
        return cursor.fetchone()[0]


def _drop_statistics() -> None:
    # As the superuser: the state after a restore or a COPY that nobody analysed. The test's transaction puts
    # them back.
    with as_superuser(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM pg_statistic WHERE starelid = 'certifications_facility'::regclass")


def test_right_after_generation_a_filtered_list_walks_an_index_instead_of_sorting_the_match(orgs, make_user):
    _drop_statistics()
    call_command("generate_facilities", "--count", "12000", "--seed", "5", stdout=io.StringIO())
    assert _statistics_rows() > 0
    # area + source is the combination that, without statistics, was estimated at 2 rows and sorted whole.
    plan = _plan(make_user(orgs.agency), {"area": "kansai", "source": "solar", "sort": "-capacity_kw"})
    kinds = [node["Node Type"] for node in _nodes(plan)]
    assert "Sort" not in kinds and "Incremental Sort" not in kinds, kinds
    assert any(node.get("Index Name") == "facility_area_capacity_idx" for node in _nodes(plan)), kinds


def test_an_import_leaves_the_planner_statistics_of_what_it_loaded():
    _drop_statistics()
    data = csv_bytes([row(f"A2{n:05d}B01", 発電出力kW=str(4 + n % 40)) for n in range(60)], "utf-8")
    result = facilities_import(io.BytesIO(data), name="aichi.csv")
    assert result.errors == [] and result.created == 60
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_distinct FROM pg_stats WHERE tablename = 'certifications_facility' AND attname = 'capacity_kw'"
        )
        (distinct,) = cursor.fetchone()
    # ANALYZE saw the file's 40 distinct capacities among its 60 rows (negative: a fraction of the rows).
    assert round(-distinct * 60) == 40 or distinct == 40


def _shinjuku(count: int) -> None:
    from tests.certifications.conftest import facility_create

    for n in range(count):
        facility_create(f"E{n:06d}F01", "東京都新宿区西新宿1")


def test_the_count_is_exact_below_the_threshold_and_an_estimate_above(orgs, make_user, signed_in_client, monkeypatch):
    _shinjuku(70)
    facility_statistics_refresh()
    client = signed_in_client(make_user(orgs.agency))
    assert "（70 件）" in client.get(reverse("certifications:list")).content.decode()  # counted (2 pages)
    assert search_count(Facility.objects.all()) == ResultCount(70, exact=True)
    monkeypatch.setattr(search, "COUNT_EXACT_UP_TO", 10)
    # Past the threshold nothing is counted: the planner's estimate (after ANALYZE: the table's 70 rows).
    assert search_count(Facility.objects.all()) == ResultCount(70, exact=False)
    assert "（約 70 件）" in client.get(reverse("certifications:list")).content.decode()
    # A first page without a next page is its own exact count, whatever the threshold.
    assert "（1 件）" in client.get(reverse("certifications:list"), {"q": "E000007F01"}).content.decode()


def test_a_municipality_larger_than_the_threshold_is_counted_as_a_lower_bound(
    orgs, make_user, signed_in_client, monkeypatch
):
    # The municipality scope is a key array the planner cannot size (policy.scope_filter): it always expects
    # a handful of rows, so the count runs, bounded, and reports what it knows.
    _shinjuku(70)
    facility_statistics_refresh()
    client = signed_in_client(make_user(orgs.shinjuku))
    assert "（70 件）" in client.get(reverse("certifications:list")).content.decode()
    monkeypatch.setattr(search, "COUNT_EXACT_UP_TO", 10)
    assert "（10 件以上）" in client.get(reverse("certifications:list")).content.decode()


def test_an_estimate_is_shown_with_three_significant_digits():
    assert ResultCount(12_345, exact=False).text == "約 12,300 件"
    assert ResultCount(3_456_789, exact=False).text == "約 3,460,000 件"
    assert ResultCount(1_234, exact=True).text == "1,234 件"
    assert ResultCount(2_000, exact=False, at_least=True).text == "2,000 件以上"


@pytest.mark.usefixtures("many")
def test_list_pages_past_the_daily_list_rows_are_refused_like_details(orgs, make_user, signed_in_client, settings):
    settings.FACILITY_DAILY_LIST_ROW_LIMIT = 60
    user = make_user(orgs.agency)
    client = signed_in_client(user)
    assert client.get(reverse("certifications:list")).status_code == 200  # 40 rows (one page)
    assert client.get(reverse("certifications:list"), {"pref": "13"}).status_code == 200  # 10 more: 50
    refused = client.get(reverse("certifications:list"), {"pref": "23"})  # 10 more would make 60: allowed
    assert refused.status_code == 200
    refused = client.get(reverse("certifications:list"), {"pref": "01"})  # 10 more: 70 > 60
    assert refused.status_code == 429
    text = refused.content.decode()
    assert "一覧に表示できる設備は1日 60 件まで" in text and "〓" not in text
    assert "B000000C01" not in text
    assert SecurityEvent.objects.filter(action="facility.bulk_limit_exceeded", actor=user).count() == 1
    assert usage_today(user=user, kind=UsageKind.LIST_ROWS) == 60
    # Details have their own counter: the list cap does not use it up, nor the other way round.
    assert client.get(reverse("certifications:detail", args=["B000001C01"])).status_code == 200


@pytest.mark.usefixtures("many")
def test_back_to_the_search_and_the_export_keep_the_conditions(orgs, make_user, signed_in_client):
    client = signed_in_client(make_user(orgs.agency))
    params = {"pref": "23", "sort": "-capacity_kw", "q": "発電所"}
    page = client.get(reverse("certifications:list"), params).content.decode()
    link = re.search(r'href="(/facilities/B\d{6}C01/\?[^"]+)"', page)
    assert link is not None
    detail = client.get(link.group(1).replace("&amp;", "&")).content.decode()
    back = re.search(r'href="(/facilities/\?[^"]*)">検索に戻る', detail)
    assert back is not None
    for name, value in params.items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in page  # the export form carries them
    returned = client.get(back.group(1).replace("&amp;", "&")).content.decode()
    assert "（10 件）" in returned
    assert re.findall(r"B\d{6}C01", returned) == re.findall(r"B\d{6}C01", page)


@pytest.mark.usefixtures("many")
def test_back_link_drops_parameters_that_are_not_search_conditions(orgs, make_user, signed_in_client):
    client = signed_in_client(make_user(orgs.agency))
    detail = client.get(
        reverse("certifications:detail", args=["B000001C01"]), {"pref": "13", "next": "https://evil.example/"}
    ).content.decode()
    back = re.search(r'href="([^"]*)">検索に戻る', detail)
    assert back is not None and back.group(1) == "/facilities/?pref=13"


# --- query-count baselines ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("many")
def test_the_list_page_runs_a_fixed_set_of_queries(orgs, make_user, signed_in_client):
    client = signed_in_client(make_user(orgs.grid_tokyo))
    client.get(reverse("certifications:list"))  # the once-a-minute session stamp is not part of the baseline
    for params in ({}, {"sort": "-capacity_kw", "cap_min": "1"}, {"q": "発電所", "sort": "certified_on"}):
        assert_query_baseline(
            lambda params=params: client.get(reverse("certifications:list"), params),
            # the page; its count (a first page without a next one counts itself); the daily list rows
            {**SIGNED_IN, "certifications_facility": 1, "certifications_dailyusage": 1, "audit_accessrecord": 1},
        )


def test_a_list_page_with_a_next_page_adds_only_its_count(orgs, make_user, signed_in_client):
    _shinjuku(55)
    client = signed_in_client(make_user(orgs.agency))
    client.get(reverse("certifications:list"))
    baseline = {**SIGNED_IN, "certifications_dailyusage": 1, "audit_accessrecord": 1}
    # page + the planner's estimate (EXPLAIN) + a bounded exact count, since the estimate is small
    expected = {**baseline, "certifications_facility": 3}
    assert_query_baseline(lambda: client.get(reverse("certifications:list")), expected)


@pytest.mark.usefixtures("many")
def test_the_detail_page_runs_a_fixed_set_of_queries(orgs, make_user, signed_in_client):
    client = signed_in_client(make_user(orgs.agency))
    client.get(reverse("certifications:detail", args=["B000001C01"]))
    assert_query_baseline(
        lambda: client.get(reverse("certifications:detail", args=["B000002C01"])),
        # the facility; its sites; the daily detail counter
        {
            **SIGNED_IN,
            "certifications_facility": 1,
            "certifications_facilitysite": 1,
            "certifications_dailyusage": 1,
            "audit_accessrecord": 1,
        },
    )


@pytest.mark.usefixtures("many")
def test_the_export_runs_a_fixed_set_of_queries(orgs, make_user, signed_in_client):
    client = signed_in_client(make_user(orgs.agency))
    client.get(reverse("certifications:list"))

    def export() -> bytes:
        return b"".join(client.get(reverse("certifications:export_csv"), {"pref": "13"}).streaming_content)

    body = assert_query_baseline(
        export,
        # the bounded row count; the ids, then one COPY per batch with the sites in it (10 rows: one batch);
        # the export settings set and reset around the COPY; the daily export rows; the request's record and
        # the first chunk's continuation record
        {
            **SIGNED_IN,
            "certifications_facility": 2,
            "session settings": 2,
            "certifications_dailyusage": 1,
            "audit_accessrecord": 2,
        },
    )
    assert body.count(b"\r\n") == 11  # header + 10 rows


def test_the_policy_doc_states_the_shipped_daily_limits(settings):
    from certifications.visibility_doc import DEFAULTS

    assert DEFAULTS == {
        "detail": settings.FACILITY_DAILY_DETAIL_LIMIT,
        "list": settings.FACILITY_DAILY_LIST_ROW_LIMIT,
        "export": settings.FACILITY_DAILY_EXPORT_ROW_LIMIT,
    }


def test_a_text_search_is_never_counted_row_by_row(orgs, make_user, signed_in_client):
    _shinjuku(70)
    facility_statistics_refresh()
    client = signed_in_client(make_user(orgs.agency))
    # 70 matches, a next page: only the planner's estimate (a LIKE over the scope would read every row)
    assert "（約 " in client.get(reverse("certifications:list"), {"q": "plant"}).content.decode()
