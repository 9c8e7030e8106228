"""Search filters, sorting and keyset pages; CSV/XLSX format and row cap; the daily bulk-viewing guard."""

from __future__ import annotations

import csv
import datetime
import io
import threading
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.urls import reverse

from audit.models import AccessRecord, SecurityEvent
from certifications.limits import usage_reserve
from certifications.models import DailyUsage, FacilityStatus, PowerSource, Scheme, UsageKind
from certifications.policy import allowed_fields
from certifications.search import FacilitySearchForm, search_page
from tests.certifications.conftest import facility_create
from tests.certifications.usage import usage_today

pytestmark = pytest.mark.django_db

ADDRESSES = ("東京都新宿区西新宿1", "大阪府大阪市北区1", "愛知県豊田市元城町1", "北海道札幌市中央区1")


@pytest.fixture
def many(db):
    """40 facilities with varied capacity, date, source, status and scheme."""
    for n in range(40):
        facility_create(
            f"B{n:06d}C01",
            ADDRESSES[n % 4],
            capacity_kw=Decimal(n % 13) + Decimal("0.5"),
            certified_on=datetime.date(2014, 1 + n % 12, 1 + n % 27),
            power_source=PowerSource.WIND if n % 10 == 0 else PowerSource.SOLAR,
            status=FacilityStatus.LAPSED if n % 7 == 0 else FacilityStatus.CERTIFIED,
            scheme=Scheme.FIP if n % 9 == 0 else Scheme.FIT,
            plant_name=f"発電所{n:02d}",
        )


def all_pages(user, params: dict, page_size: int = 7) -> list[dict]:
    allowed = allowed_fields(user)
    rows, after = [], ""
    for _ in range(100):
        page = search_page(user, FacilitySearchForm(params, allowed=allowed), after_raw=after, page_size=page_size)
        rows.extend(page.rows)
        if page.next_cursor is None:
            return rows
        after = page.next_cursor
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("sort", ["facility_id", "capacity_kw", "-capacity_kw", "certified_on", "-certified_on"])
def test_keyset_pages_cover_every_row_once_in_order(sort, many, orgs, make_user):
    user = make_user(orgs.agency)
    rows = all_pages(user, {"sort": sort})
    assert len(rows) == 40 == len({row["facility_id"] for row in rows})
    column = sort.lstrip("-")
    keys = [(row[column], row["facility_id"]) for row in rows]
    assert keys == sorted(keys, reverse=sort.startswith("-"))


def test_filters_narrow_the_search(many, orgs, make_user):
    user = make_user(orgs.agency)

    def ids(**params):
        return {row["facility_id"] for row in all_pages(user, params)}

    assert len(ids(area="kansai")) == 10
    assert len(ids(pref="23")) == 10
    assert len(ids(muni="131041")) == 10
    assert len(ids(source="wind")) == 4
    assert len(ids(status="lapsed")) == 6
    assert len(ids(scheme="fip")) == 5
    assert ids(cap_min="12", cap_max="12.5") == {f"B{n:06d}C01" for n in range(40) if n % 13 == 12}
    assert ids(cert_from="2014-03-01", cert_to="2014-03-31") == {f"B{n:06d}C01" for n in range(40) if n % 12 == 2}
    assert ids(q="発電所07") == {"B000007C01"}
    assert ids(area="chubu", source="wind") == {"B000010C01", "B000030C01"}


def test_a_bad_filter_value_is_reported_and_not_applied(many, orgs, make_user, signed_in_client):
    response = signed_in_client(make_user(orgs.agency)).get(reverse("certifications:list"), {"muni": "999999"})
    assert response.status_code == 200
    assert "全国地方公共団体コード（6桁）を入力してください" in response.content.decode()


def test_a_page_costs_a_fixed_number_of_queries(many, orgs, make_user, django_assert_max_num_queries):
    user = make_user(orgs.grid_tokyo)
    allowed = allowed_fields(user)
    with django_assert_max_num_queries(1):
        search_page(user, FacilitySearchForm({"sort": "-capacity_kw"}, allowed=allowed), page_size=5)


def test_a_tampered_cursor_restarts_at_the_first_page_or_ends_the_list(many, orgs, make_user):
    user = make_user(orgs.agency)
    allowed = allowed_fields(user)
    for after in ("x~y", "NaN~B000001C01", "Infinity~B", "'; drop table x; --", "~" * 100, "2014-13-01~B"):
        page = search_page(user, FacilitySearchForm({"sort": "capacity_kw"}, allowed=allowed), after_raw=after)
        assert len(page.rows) == 40, after
    page = search_page(user, FacilitySearchForm({"sort": "capacity_kw"}, allowed=allowed), after_raw="1e999~B")
    assert page.rows == []


def test_csv_is_utf8_with_bom_and_crlf(many, orgs, make_user, signed_in_client):
    response = signed_in_client(make_user(orgs.agency)).get(reverse("certifications:export_csv"), {"pref": "13"})
    body = b"".join(response.streaming_content)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.count(b"\r\n") == 11 and body.count(b"\n") == 11
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][0] == "設備ID" and len(rows) == 11


def test_an_unfiltered_export_streams_every_visible_row(many, orgs, make_user, signed_in_client):
    response = signed_in_client(make_user(orgs.agency)).get(reverse("certifications:export_csv"))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert response.status_code == 200
    assert len(rows) == 1 + 40


def test_xlsx_opens_with_every_row(many, orgs, make_user, signed_in_client):
    response = signed_in_client(make_user(orgs.grid_tokyo)).get(reverse("certifications:export_xlsx"))
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[0][0] == "設備ID"
    assert len(rows) == 1 + 10  # grid Tokyo: the Shinjuku facilities only


def test_an_export_past_the_cap_is_refused_with_a_clear_message(many, orgs, make_user, signed_in_client, settings):
    settings.FACILITY_EXPORT_MAX_ROWS = 39
    client = signed_in_client(make_user(orgs.agency))
    response = client.get(reverse("certifications:export_csv"))
    assert response.status_code == 400
    assert "39 件まで" in response.content.decode()
    settings.FACILITY_EXPORT_MAX_ROWS = 40
    assert client.get(reverse("certifications:export_csv")).status_code == 200


def test_export_disclosure_is_recorded_before_rows_leave(many, orgs, make_user, signed_in_client):
    response = signed_in_client(make_user(orgs.grid_tokyo)).get(reverse("certifications:export_csv"))
    stream = iter(response.streaming_content)
    next(stream)
    record = AccessRecord.objects.filter(path=reverse("certifications:export_csv")).latest("id")
    assert record.disclosure_kind == "export"
    assert len(record.facility_ids) == 10
    assert record.fields == list(allowed_fields(make_user(orgs.grid_tokyo)))


def test_detail_views_past_the_daily_limit_are_refused_and_flagged(many, orgs, make_user, signed_in_client, settings):
    settings.FACILITY_DAILY_DETAIL_LIMIT = 3
    user = make_user(orgs.agency)
    client = signed_in_client(user)
    for n in range(3):
        assert client.get(reverse("certifications:detail", args=[f"B{n:06d}C01"])).status_code == 200
    refused = client.get(reverse("certifications:detail", args=["B000004C01"]))
    assert refused.status_code == 429
    text = refused.content.decode()
    assert "本日の閲覧上限" in text and "〓" not in text
    assert SecurityEvent.objects.filter(action="facility.bulk_limit_exceeded", actor=user).count() == 1
    assert usage_today(user=user, kind=UsageKind.DETAIL) == 3


def test_exported_rows_past_the_daily_limit_are_refused_and_flagged(many, orgs, make_user, signed_in_client, settings):
    settings.FACILITY_DAILY_EXPORT_ROW_LIMIT = 50
    user = make_user(orgs.agency)
    client = signed_in_client(user)
    assert client.get(reverse("certifications:export_csv")).status_code == 200  # 40 rows
    assert client.get(reverse("certifications:export_csv"), {"pref": "13"}).status_code == 200  # 10 more: 50
    assert client.get(reverse("certifications:export_xlsx"), {"pref": "23"}).status_code == 429
    assert SecurityEvent.objects.filter(action="facility.bulk_limit_exceeded", actor=user).exists()
    assert usage_today(user=user, kind=UsageKind.EXPORT_ROWS) == 50


@pytest.mark.django_db(transaction=True)
def test_parallel_reservations_never_pass_the_limit(orgs, make_user, settings):
    """Eight threads (eight database connections, as on eight nodes) race for 5 detail views."""
    settings.FACILITY_DAILY_DETAIL_LIMIT = 5
    user = make_user(orgs.agency)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        try:
            for _ in range(3):
                results.append(usage_reserve(user=user, kind=UsageKind.DETAIL, amount=1))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 5
    assert DailyUsage.objects.get(user=user).count == 5


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_of_many_chunks_streams_every_row_once(fmt, many, orgs, make_user, signed_in_client, monkeypatch):
    """Small chunks force several disclosures during one export (on PostgreSQL, after the COPY ended)."""
    from certifications import copy_export, exports

    monkeypatch.setattr(copy_export, "CHUNK_ROWS", 3)
    monkeypatch.setattr(exports, "CHUNK_ROWS", 3)
    response = signed_in_client(make_user(orgs.agency)).get(reverse(f"certifications:export_{fmt}"))
    chunks = list(response.streaming_content)
    body = b"".join(chunks)
    if fmt == "csv":
        assert len(chunks) == 14  # 40 rows in chunks of 3
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    else:
        rows = list(openpyxl.load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True))
    ids = [row[0] for row in rows[1:]]
    assert ids == sorted(ids) and len(set(ids)) == 40
    # Every row that left is in the audit trail (the first record and its continuation parts).
    recorded = set()
    for facility_ids in AccessRecord.objects.filter(path=reverse(f"certifications:export_{fmt}")).values_list(
        "facility_ids", flat=True
    ):
        recorded.update(facility_ids or [])
    assert recorded == set(ids)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_no_row_leaves_when_the_audit_trail_cannot_be_written(fmt, many, orgs, make_user, signed_in_client):
    from audit.disclosure import AuditUnavailable
    from tests.database import as_superuser

    client = signed_in_client(make_user(orgs.agency))
    with as_superuser(), connection.cursor() as cursor:  # undone with the test's transaction
        cursor.execute("ALTER TABLE audit_accessrecord RENAME TO audit_accessrecord_gone")
    received = b""
    try:
        response = client.get(reverse(f"certifications:export_{fmt}"))
        assert response.status_code == 503
        received = b"".join(response.streaming_content) if response.streaming else response.content
    except AuditUnavailable:
        pass
    assert b"B000001C01" not in received and b"PK" not in received[:2]
