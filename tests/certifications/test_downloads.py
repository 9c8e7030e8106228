"""The facility downloads are Excel-grade: typed XLSX cells with Japanese date formats, widths from the data, a
frozen heading, a filter, A4 landscape fitted to the width; the CSV's cells equal the pages' text; and a cell
that Excel would run as a formula is neutralised in both."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse
from openpyxl.utils import get_column_letter

from certifications.presentation import field_label, formatter
from renergy.spreadsheet import DATE_FORMAT, MONTH_FORMAT, neutralise, pages_wide, unneutralise
from tests.certifications.conftest import facility_create

pytestmark = pytest.mark.django_db

PLANTED = ('=HYPERLINK("http://example.invalid","x")', "+1+2", "-3", "@SUM(A1)", "\tx", "'=quoted")


@pytest.fixture
def planted(db):
    facility_create("C000001D01", "北海道石狩郡当別町白樺町58", extra_sites=("北海道札幌市中央区1", "北海道江別市1"))
    facility_create(
        "C000002D02",
        "東京都新宿区1",
        plant_name=PLANTED[0],
        operator_name=PLANTED[1],
        panel_maker=PLANTED[2],
        panel_model=PLANTED[3],
        disposal_reserve_method=PLANTED[4],
        disposal_reserve_status=PLANTED[5],
        representative_name="",
        specified_corporation=False,
        self_sustained_operation=None,
        procurement_price=None,
        operation_reported_month=None,
        capacity_kw=Decimal("100.000"),
    )


def _download(client, fmt: str, **params) -> bytes:
    response = client.get(reverse(f"certifications:export_{fmt}"), params)
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def test_neutralise_round_trips_and_covers_every_trigger():
    for value in (*PLANTED, "\rx", "ok", "", "1-2", "株式会社"):
        assert unneutralise(neutralise(value)) == value
        assert neutralise(value)[:1] not in ("=", "+", "-", "@", "\t", "\r")


def test_the_sql_neutralisation_equals_the_python_one():
    from django.db import connection

    from renergy.spreadsheet import neutralise_sql

    values = [*PLANTED, "\rx", "ok", "", "1-2"]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + neutralise_sql("v") + " FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n",  # noqa: S608 - the SQL is ours
            [values],
        )
        assert [row[0] for row in cursor.fetchall()] == [neutralise(value) for value in values]


def test_csv_cells_equal_the_display_text_and_planted_formulas_are_neutralised(planted, orgs, make_user,
                                                                             signed_in_client):  # fmt: skip
    from certifications.models import Facility
    from certifications.policy import allowed_fields

    for role in ("agency", "grid_tokyo", "tokyo_metro"):
        user = make_user(getattr(orgs, role))
        rows = list(csv.reader(io.StringIO(_download(signed_in_client(user), "csv").decode("utf-8-sig"))))
        fields = allowed_fields(user)
        assert rows[0] == [field_label(field) for field in fields]
        for row in rows[1:]:
            facility = Facility.objects.get(facility_id=row[0])
            for field, cell in zip(fields, row, strict=True):
                if field == "sites":
                    expected = " / ".join(facility.sites.order_by("position").values_list("address", flat=True))
                else:
                    expected = formatter(field)(getattr(facility, field))
                assert cell == neutralise(expected), (role, field)
        planted_row = dict(zip(fields, next(row for row in rows if row[0] == "C000002D02"), strict=True))
        assert planted_row["plant_name"] == "'" + PLANTED[0] and planted_row["operator_name"] == "'" + PLANTED[1]


def test_a_stored_value_outside_a_fields_choices_is_neutralised_too(planted, orgs, make_user, signed_in_client):
    # Choice and yes/no cells are written as this code's labels and not checked again; a value written to the
    # database past the forms and the importer falls through the label lookup, and is checked there.
    from certifications.models import Facility

    Facility.objects.filter(facility_id="C000002D02").update(status=PLANTED[0][:12], prefecture_code="@x")
    client = signed_in_client(make_user(orgs.agency))
    rows = list(csv.reader(io.StringIO(_download(client, "csv").decode("utf-8-sig"))))
    row = dict(zip(rows[0], next(row for row in rows if row[0] == "C000002D02"), strict=True))
    assert row[field_label("status")] == "'" + PLANTED[0][:12]
    assert row[field_label("prefecture_code")] == "'@x"
    sheet = openpyxl.load_workbook(io.BytesIO(_download(client, "xlsx")), read_only=True)["認定設備"]
    cells = next(r for r in sheet.iter_rows(values_only=True) if r[0] == "C000002D02")
    assert "'" + PLANTED[0][:12] in cells and "'@x" in cells


def test_xlsx_cells_are_typed_and_formatted_and_formulas_never_live(planted, orgs, make_user, signed_in_client):
    data = _download(signed_in_client(make_user(orgs.agency)), "xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(data))  # not read-only: formats, panes and print setup
    sheet = workbook["認定設備"]
    headings = [cell.value for cell in sheet[1]]
    column = {heading: index for index, heading in enumerate(headings)}
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "C000002D02")

    def cell(field: str):
        return row[column[field_label(field)]]

    assert cell("capacity_kw").value == 100 and cell("capacity_kw").data_type == "n"
    assert cell("other_parcel_count").value == 777
    assert cell("certified_on").value == datetime.datetime(2002, 2, 12)
    assert cell("certified_on").number_format == DATE_FORMAT
    assert cell("procurement_end_month").value == datetime.datetime(2008, 8, 1)
    assert cell("procurement_end_month").number_format == MONTH_FORMAT
    assert cell("operation_reported_month").value is None
    assert cell("specified_corporation").value == "無"
    assert cell("facility_id").data_type == "s"
    # No formula anywhere; the planted values are text with the apostrophe.
    for each in sheet.iter_rows(min_row=1):
        for item in each:
            assert item.data_type != "f", item.coordinate
    assert cell("plant_name").value == "'" + PLANTED[0]
    assert cell("disposal_reserve_status").value == "''=quoted"
    sites = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "C000001D01")[column[field_label("sites")]]
    assert sites.value.count(" / ") == 2
    # Layout: frozen heading, a filter over the table, widths from the data, A4 landscape as many pages wide as
    # the columns need to stay legible, the ID column repeated on each.
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref.startswith("A1:") and sheet.auto_filter.ref.endswith("3")
    assert sheet.column_dimensions["A"].width >= 10  # 設備ID: ten characters
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.paperSize == 9
    total = sum(sheet.column_dimensions[get_column_letter(n)].width for n in range(1, sheet.max_column + 1))
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToWidth == pages_wide(total) > 1
    assert sheet.page_setup.fitToHeight == 0
    assert sheet.print_title_rows.replace("$", "") == "1:1"
    assert sheet.print_title_cols.replace("$", "") == "A:A"


def test_a_masked_name_is_masked_in_the_xlsx_too(orgs, make_user, signed_in_client):
    from certifications.models import OperatorKind

    facility_create("C000003D03", "東京都新宿区1", operator_name="試験 花子", operator_kind=OperatorKind.INDIVIDUAL)
    for role, expected in (("grid_tokyo", "個人"), ("agency", "試験 花子")):
        data = _download(signed_in_client(make_user(getattr(orgs, role))), "xlsx")
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True)["認定設備"]
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[1][rows[0].index(field_label("operator_name"))] == expected
