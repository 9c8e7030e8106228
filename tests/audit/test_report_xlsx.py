"""The fiscal-year report's workbook: typed cells, the findings' evidence in labelled columns, A4 landscape one page
wide on every sheet, and no live formula from a planted value, in the workbook and in the records CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import openpyxl
import pytest
from django.urls import reverse

from audit.inspection import JST, inspection_create, inspection_execute
from audit.models import Finding
from audit.report import CSV_BOM, EVIDENCE_LABELS
from tests.audit.planting import plant, plant_all

pytestmark = pytest.mark.django_db

PLANTED = '=HYPERLINK("http://example.invalid","x")'


def test_the_report_workbook_is_typed_labelled_printable_and_inert(orgs, make_user, signed_in_client, settings):
    orgs.grid_tokyo.name = PLANTED
    orgs.grid_tokyo.save()
    staff = make_user(orgs.grid_tokyo)
    records = [
        plant(staff, datetime(2024, 5, 10, 10, n, tzinfo=JST), kind="export", facility_ids=[f"E{n}"]) for n in range(5)
    ]
    for record in records:
        record.user_agent = "=cmd|' /C calc'!A0"
    plant_all(records)
    settings.AUDIT_INSPECTION = {"bulk_export_rows": 1}
    run = inspection_create(
        period_start=datetime(2024, 5, 1, tzinfo=JST), period_end=datetime(2024, 6, 1, tzinfo=JST), label="FY2024-05"
    )
    inspection_execute(run_id=run.pk)
    assert Finding.objects.exists()

    client = signed_in_client(make_user(orgs.contractor))
    response = client.get(reverse("audit:report_xlsx", args=[2024]))
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert workbook.sheetnames == [
        *("概要", "組織別・月別利用", "点検結果", "アカウント管理", "都度承認", "アカウント棚卸し", "出力")
    ]
    for sheet in workbook.worksheets:
        assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9, sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToHeight == 0, sheet.title
        assert sheet.print_title_rows.replace("$", "") == "1:1" and sheet.freeze_panes == "A2", sheet.title
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate)
                assert not (isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@"))), cell.value
    summary = {row[0]: row[1] for row in workbook["概要"].iter_rows(min_row=2, values_only=True)}
    assert summary["アクセス件数"] == 5 and isinstance(summary["出力した行数"], int)

    findings = list(workbook["点検結果"].iter_rows(values_only=True))
    headings = findings[0]
    assert "根拠" not in headings  # no column of Python dict strings
    bulk = next(row for row in findings[1:] if row[3] == "大量閲覧・出力")
    assert bulk[1] == "'" + PLANTED
    assert bulk[headings.index(str(EVIDENCE_LABELS["export_rows"]))] == 5
    assert bulk[headings.index(str(EVIDENCE_LABELS["exports"]))] == 5
    assert not any(isinstance(value, str) and value.startswith("{") for row in findings for value in row)

    usage = list(workbook["組織別・月別利用"].iter_rows(values_only=True))
    assert any(row[0] == "'" + PLANTED for row in usage)

    body = b"".join(client.get(reverse("audit:report_records_csv", args=[2024])).streaming_content)
    rows = list(csv.reader(io.StringIO(body[len(CSV_BOM) :].decode("utf-8"), newline="")))
    agent = rows[0].index("user_agent")
    assert {row[agent] for row in rows[1:]} == {"'=cmd|' /C calc'!A0"}
