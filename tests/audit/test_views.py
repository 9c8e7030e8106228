"""Who sees which audit pages: officers their own organisation only; the contractor everything."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from audit.inspection import inspection_create, inspection_execute
from audit.models import Finding, FindingReview, SecurityEvent
from audit.report import CSV_BOM, fiscal_year_report
from audit.sealing import seal_pending, verify
from renergy.geography import JST
from tests.audit.planting import plant, plant_all

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def two_orgs_used(orgs, make_user):
    a_staff = make_user(orgs.operator_a)
    b_staff = make_user(orgs.operator_b)
    now = timezone.now()
    plant_all(
        [
            plant(a_staff, now - timedelta(hours=1), path="/a-only/"),
            plant(b_staff, now - timedelta(hours=1), path="/b-only/"),
        ]
    )
    return a_staff, b_staff


def test_an_officer_sees_only_their_own_organisations_log(orgs, make_user, signed_in_client, two_orgs_used) -> None:
    officer_a = make_user(orgs.operator_a, officer=True)
    page = signed_in_client(officer_a).get(reverse("audit:organisation_log")).content.decode()
    assert "/a-only/" in page
    assert "/b-only/" not in page


def test_an_officer_cannot_widen_the_log_by_asking_for_another_persons_id(
    orgs, make_user, signed_in_client, two_orgs_used
) -> None:
    _a, b_staff = two_orgs_used
    officer_a = make_user(orgs.operator_a, officer=True)
    page = signed_in_client(officer_a).get(reverse("audit:organisation_log"), {"user": b_staff.pk}).content.decode()
    assert "/b-only/" not in page


def test_an_officer_sees_only_their_own_organisations_findings(orgs, make_user, signed_in_client) -> None:
    make_user(orgs.operator_b, date_joined=timezone.now() - timedelta(days=90))  # never used: a finding for org B
    officer_a = make_user(orgs.operator_a, officer=True)
    run = inspection_create(period_start=timezone.now() - timedelta(days=30), period_end=timezone.now(), label="t")
    inspection_execute(run_id=run.pk)
    assert Finding.objects.filter(organisation=orgs.operator_b).exists()
    page = signed_in_client(officer_a).get(reverse("audit:organisation_findings")).content.decode()
    assert orgs.operator_b.name not in page


@pytest.mark.parametrize(
    "name", ["audit:log", "audit:inspections", "audit:reports", "audit:organisation_log", "audit:organisation_findings"]
)
def test_a_person_without_the_right_is_refused(name, orgs, make_user, signed_in_client) -> None:
    response = signed_in_client(make_user(orgs.grid_tokyo)).get(reverse(name))
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["audit:log", "audit:inspections", "audit:reports"])
def test_an_officer_of_another_organisation_cannot_use_contractor_pages(
    name, orgs, make_user, signed_in_client
) -> None:
    response = signed_in_client(make_user(orgs.agency, officer=True)).get(reverse(name))
    assert response.status_code == 403


def test_the_contractor_reviews_a_finding_in_the_browser(orgs, make_user, signed_in_client) -> None:
    make_user(orgs.operator_b, date_joined=timezone.now() - timedelta(days=90))
    run = inspection_create(period_start=timezone.now() - timedelta(days=30), period_end=timezone.now(), label="t")
    inspection_execute(run_id=run.pk)
    finding = Finding.objects.filter(run=run).first()
    admin = make_user(orgs.contractor)
    client = signed_in_client(admin)
    assert client.get(reverse("audit:inspection", args=[run.pk])).status_code == 200
    assert finding is not None
    response = client.post(
        reverse("audit:finding", args=[finding.pk]), {"state": "explained", "note": "異動に伴う未使用"}
    )
    assert response.status_code == 302
    review = FindingReview.objects.get(finding=finding)
    assert (review.state, review.reviewed_by_id) == ("explained", admin.pk)
    assert SecurityEvent.objects.filter(action="inspection.finding_explained", actor_id=admin.pk).exists()


def test_a_running_inspection_page_refreshes_itself(orgs, make_user, signed_in_client) -> None:
    run = inspection_create(period_start=timezone.now() - timedelta(days=1), period_end=timezone.now(), label="t")
    response = signed_in_client(make_user(orgs.contractor)).get(reverse("audit:inspection", args=[run.pk]))
    assert response["Refresh"] == "3"
    assert b'http-equiv="refresh"' in response.content


def _year_with_records(orgs, make_user) -> tuple[int, object]:
    staff = make_user(orgs.grid_tokyo)
    records = [
        plant(staff, datetime(2024, month, 10, 10, tzinfo=JST) + timedelta(minutes=n), facility_ids=[f"F{month}{n}"])
        for month in (4, 5, 12)
        for n in range(month)
    ]
    records.append(plant(staff, datetime(2025, 3, 31, 23, 59, tzinfo=JST), kind="export", facility_ids=["E1", "E2"]))
    records.append(plant(staff, datetime(2025, 4, 1, 0, 0, tzinfo=JST)))  # the next fiscal year
    plant_all(records)
    return 2024, staff


def test_the_fiscal_year_report_counts_the_year_in_jst(orgs, make_user) -> None:
    year, _staff = _year_with_records(orgs, make_user)
    report = fiscal_year_report(year)
    assert report.per_month == [4, 5, 0, 0, 0, 0, 0, 0, 12, 0, 0, 1]
    assert report.exports[0]["rows"] == 2
    assert sum(map(sum, report.heatmap)) == 22


def test_the_report_states_the_verification_result(orgs, make_user) -> None:
    year, _staff = _year_with_records(orgs, make_user)
    before = fiscal_year_report(year).verification
    assert "未実施" in before["text"]
    # Nothing that was not checked is called 正常.
    assert "署名: 未検証" in before["text"] and "外部アンカー照合: 未検証" in before["text"]
    assert not before["ok"]
    seal_pending()
    start, end = datetime(2024, 4, 1, tzinfo=JST), datetime(2025, 4, 1, tzinfo=JST)
    verify(start, end)
    summary = fiscal_year_report(year).verification
    assert summary["ok"], summary
    assert "全件検証: 正常" in summary["text"]
    assert "署名: 正常" in summary["text"] and "外部アンカー照合: 正常" in summary["text"]
    assert summary["records_verified"] == 22
    assert "未封印の記録: 0 件" in summary["text"]


def test_without_an_anchor_store_the_report_says_the_anchors_were_not_checked(orgs, make_user, settings) -> None:
    year, _staff = _year_with_records(orgs, make_user)
    settings.AUDIT_ANCHOR_DIR = ""
    seal_pending()
    verify(datetime(2024, 4, 1, tzinfo=JST), datetime(2025, 4, 1, tzinfo=JST))
    summary = fiscal_year_report(year).verification
    assert "外部アンカー照合: 未検証" in summary["text"]
    assert not summary["ok"]


def test_the_contractor_downloads_xlsx_html_and_csv(orgs, make_user, signed_in_client) -> None:
    year, _staff = _year_with_records(orgs, make_user)
    client = signed_in_client(make_user(orgs.contractor))
    page = client.get(reverse("audit:report", args=[year]))
    assert page.status_code == 200
    assert b"<svg" in page.content and b"heat-" in page.content and b"<script" not in page.content

    response = client.get(reverse("audit:report_xlsx", args=[year]))
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    assert workbook.sheetnames == [
        *("概要", "組織別・月別利用", "点検結果", "アカウント管理", "都度承認", "アカウント棚卸し", "出力")
    ]

    response = client.get(reverse("audit:report_records_csv", args=[year]))
    body = b"".join(response.streaming_content)
    assert body.startswith(CSV_BOM)
    assert b"\r\n" in body and b"\n" not in body.replace(b"\r\n", b"")
    rows = list(csv.reader(io.StringIO(body[len(CSV_BOM) :].decode("utf-8"), newline="")))
    assert rows[0][:3] == ["id", "at", "request_id"]
    assert len(rows) == 1 + 22  # the year's records only, not the next year's
