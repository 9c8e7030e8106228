"""Accounting of disclosures: an operator sees which organisations viewed or exported which of its own
facilities and fields, per month — and nothing of any other operator's facilities."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from audit.disclosure_accounting import operator_disclosures
from audit.inspection import fiscal_year_bounds, fiscal_year_of
from audit.models import AccessRecord
from audit.tasks import merge_disclosure_index
from renergy.databases import OWNER_ALIAS
from renergy.geography import SupplyArea
from tests.audit.planting import plant, plant_all
from tests.e2e.facilities import make_facility

pytestmark = [pytest.mark.django_db]

JST = ZoneInfo("Asia/Tokyo")
A1, A2, B1 = "FA00000001", "FA00000002", "FB00000001"


@pytest.fixture
def register(orgs):
    return {
        A1: make_facility(A1, supply_area=SupplyArea.TOKYO, prefecture_code="13", organisation=orgs.operator_a),
        A2: make_facility(A2, supply_area=SupplyArea.TOKYO, prefecture_code="13", organisation=orgs.operator_a),
        B1: make_facility(B1, supply_area=SupplyArea.TOKYO, prefecture_code="13", organisation=orgs.operator_b),
    }


@pytest.fixture
def grid_viewer(orgs, make_user):
    return make_user(orgs.grid_tokyo, name="送配電 閲覧者")


def _page(client, **params) -> str:
    response = client.get(reverse("audit:disclosures"), params)
    assert response.status_code == 200
    return response.content.decode()


def test_an_operator_sees_which_organisation_viewed_its_facility_and_which_fields(
    register, orgs, grid_viewer, make_user, signed_in_client
) -> None:
    viewer = signed_in_client(grid_viewer)
    assert viewer.get(reverse("certifications:detail", args=[A1])).status_code == 200

    page = _page(signed_in_client(make_user(orgs.operator_a)))
    assert orgs.grid_tokyo.name in page
    assert "一般送配電事業者" in page  # the organisation's kind
    assert A1 in page and A2 not in page
    assert "詳細" in page
    assert "調達価格" in page  # the grid operator's fields, by their labels
    assert "事業者住所" not in page  # … and only those: the grid operator never received the address
    # Not the staff: no name, no address of the person who looked.
    assert grid_viewer.name not in page and grid_viewer.email not in page


def test_disclosures_are_counted_per_month_organisation_facility_and_kind(
    register, orgs, grid_viewer, make_user
) -> None:
    local_gov = make_user(orgs.tokyo_metro)
    may, june = datetime(2026, 5, 10, 11, tzinfo=JST), datetime(2026, 6, 3, 15, tzinfo=JST)
    export = plant(grid_viewer, june, facility_ids=[A1, A2, B1], kind="export")
    continuation = plant(grid_viewer, june, facility_ids=[A2], kind="export")
    continuation.request_id, continuation.part = export.request_id, 1  # a streamed export's later chunk
    plant_all(
        [
            plant(grid_viewer, may, facility_ids=[A1, B1]),
            plant(grid_viewer, may + timedelta(hours=1), facility_ids=[A1]),
            plant(local_gov, may, facility_ids=[B1]),
            export,
            continuation,
        ]
    )
    start, end = fiscal_year_bounds(2026)
    lines = operator_disclosures(user=make_user(orgs.operator_a), start=start, end=end)
    got = {(line.month.isoformat(), line.organisation, line.facility_id, line.kind, line.requests) for line in lines}
    assert got == {
        ("2026-06-01", orgs.grid_tokyo.name, A1, "出力（CSV・Excel）", 1),
        ("2026-06-01", orgs.grid_tokyo.name, A2, "出力（CSV・Excel）", 1),  # two records, one request
        ("2026-05-01", orgs.grid_tokyo.name, A1, "一覧・検索", 2),
    }
    assert set(lines[0].fields) == {"設備ID", "設備容量（kW）"}  # planted records disclose facility_id, capacity_kw


def test_an_operator_sees_nothing_of_another_operators_facilities(
    register, orgs, grid_viewer, make_user, signed_in_client
) -> None:
    now = timezone.now()
    plant_all([plant(grid_viewer, now - timedelta(hours=2), facility_ids=[A1, A2])])
    page = _page(signed_in_client(make_user(orgs.operator_b)))
    assert A1 not in page and A2 not in page and orgs.grid_tokyo.name not in page


@pytest.mark.parametrize("tampered", [A1, A1.lower(), "FA00000001/../FB00000001", "ZZ99999999", "'; --"])
def test_an_operator_naming_another_operators_facility_gets_404(
    register, orgs, grid_viewer, make_user, signed_in_client, tampered
) -> None:
    plant_all([plant(grid_viewer, timezone.now() - timedelta(hours=2), facility_ids=[A1, B1])])
    client = signed_in_client(make_user(orgs.operator_b))
    response = client.get(reverse("audit:disclosures"), {"facility": tampered})
    assert response.status_code == 404
    assert orgs.grid_tokyo.name not in response.content.decode()  # the error page echoes only the request


def test_an_operator_narrows_to_one_of_its_own_facilities(
    register, orgs, grid_viewer, make_user, signed_in_client
) -> None:
    plant_all([plant(grid_viewer, timezone.now() - timedelta(hours=2), facility_ids=[A1, A2])])
    page = _page(signed_in_client(make_user(orgs.operator_a)), facility=A2)
    assert A2 in page and f"<td>{A1}</td>" not in page


def test_a_year_that_is_not_offered_is_not_answered(register, orgs, make_user, signed_in_client) -> None:
    client = signed_in_client(make_user(orgs.operator_a))
    assert client.get(reverse("audit:disclosures"), {"year": "1999"}).status_code == 404
    assert client.get(reverse("audit:disclosures"), {"year": "x"}).status_code == 404


def test_the_operators_own_use_is_not_listed_as_a_disclosure(register, orgs, make_user) -> None:
    own = make_user(orgs.operator_a)
    plant_all([plant(own, timezone.now() - timedelta(hours=2), facility_ids=[A1])])
    start, end = fiscal_year_bounds(fiscal_year_of(timezone.now()))
    assert operator_disclosures(user=own, start=start, end=end) == []


@pytest.mark.parametrize("role", ["grid_tokyo", "agency", "contractor", "tokyo_metro"])
def test_only_certified_operators_have_the_accounting(orgs, make_user, signed_in_client, role) -> None:
    client = signed_in_client(make_user(getattr(orgs, role), officer=True))
    assert client.get(reverse("audit:disclosures")).status_code == 403


def test_the_page_itself_is_recorded_with_the_facility_ids_it_showed(
    register, orgs, grid_viewer, make_user, signed_in_client
) -> None:
    plant_all([plant(grid_viewer, timezone.now() - timedelta(hours=2), facility_ids=[A1])])
    operator = make_user(orgs.operator_a)
    _page(signed_in_client(operator))
    record = AccessRecord.objects.filter(user_id=operator.pk, route="audit:disclosures").get()
    assert (record.facility_ids, record.fields) == ([A1], ["facility_id"])


def test_the_records_are_found_through_the_facility_ids_index(register, orgs, grid_viewer, make_user) -> None:
    plant_all([plant(grid_viewer, timezone.now() - timedelta(hours=2), facility_ids=[A1])])
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table would be scanned; the plan shows the index
        cursor.execute(
            "EXPLAIN SELECT id FROM audit_accessrecord WHERE at >= now() - interval '1 year' AND facility_ids ?| %s",
            [[A1, A2]],
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "facility_ids" in plan and "Bitmap Index Scan" in plan


@pytest.mark.django_db(transaction=True, databases=["default", OWNER_ALIAS])
def test_the_worker_merges_the_facility_ids_pending_list_into_the_index(register, grid_viewer) -> None:
    # What an export of 5,000 rows records (committed: the worker's owner connection reads it).
    exported = [f"FX{n:08d}" for n in range(5000)]
    plant_all([plant(grid_viewer, timezone.now(), facility_ids=[A1, *exported], kind="export")])
    assert merge_disclosure_index() > 0  # the application's inserts left their entries pending
    assert merge_disclosure_index() == 0  # merged: nothing left for a request to merge
    records = AccessRecord.objects.filter(at__gte=timezone.now() - timedelta(hours=1), facility_ids__contains=[A1])
    assert records.count() == 1
    # The 64 MB list is the index's own setting, on every partition (those made later copy it from the parent):
    # other GIN indexes (the facilities' trigram search) keep the default.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(DISTINCT c.reloptions::text) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'audit_access_facility_ids'::regclass"
        )
        assert cursor.fetchone()[0] == ["{gin_pending_list_limit=65536}"]
        cursor.execute("SHOW gin_pending_list_limit")
        assert cursor.fetchone()[0] == "4MB"


@pytest.fixture
def japanese_afterwards():
    """The test client's English request leaves English active in this thread; later tests read Japanese."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def test_the_accounting_reads_in_english_too(
    japanese_afterwards, register, orgs, grid_viewer, make_user, signed_in_client
) -> None:
    plant_all([plant(grid_viewer, timezone.now() - timedelta(hours=2), facility_ids=[A1])])
    client = signed_in_client(make_user(orgs.operator_a))
    client.cookies["django_language"] = "en"
    page = client.get(reverse("audit:disclosures")).content.decode()
    assert "Who viewed our facilities" in page and "List and search" in page
