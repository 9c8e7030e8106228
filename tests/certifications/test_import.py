"""Import of the agency's public list: xlsx with header rows and both sheets, CSV in three encodings,
all-or-nothing validation with line numbers, idempotent re-import, progress, and the upload page."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from certifications.importers import facilities_import
from certifications.models import Facility, FacilitySite, ImportJob, ImportStatus, PowerSource
from tests.certifications.published import main_headings

pytestmark = pytest.mark.django_db

HEADERS = main_headings("kW")


def row(facility_id: str, **overrides) -> list:
    values = {
        "設備ID": facility_id,
        "発電事業者名": "株式会社テスト発電",
        "代表者名": "代表取締役 山田 太郎",
        "事業者の住所": "東京都千代田区霞が関1-3-1",
        "事業者の電話番号": "03-0000-0000",
        "発電設備区分": "太陽光発電設備",
        "発電出力kW": "49.5",
        "代表住所": "愛知県豊田市元城町1丁目",
        "他の筆数": "2",
        "太陽電池の合計出力kW": "62.4",
        "新規認定日": datetime.datetime(2015, 3, 20),
        "運転開始予定日": "-",
        "運転開始報告年月": "2016年4月",
        "自立運転機能": "-",
        "給電用コンセント": "-",
        "廃棄費用の積立方法": "外部積立",
        "廃棄費用の積立状況": "積立中",
        "調達期間終了年月": "2036年4月",
    }
    values.update(overrides)
    return [values[header] for header in HEADERS]


def xlsx_bytes(rows: list[list], sites: list[list] | None = None) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "認定設備"
    # The public list has title and note rows above the header.
    sheet.append(["事業計画認定情報 公表用データ（愛知県）"])
    sheet.append(["※ 個人の場合は氏名等を公表していません"])
    sheet.append([])
    sheet.append(HEADERS)
    for values in rows:
        sheet.append(values)
    if sites is not None:
        site_sheet = workbook.create_sheet("すべての設備所在地")
        site_sheet.append(["すべての設備所在地"])
        site_sheet.append(["設備ID", "設備所在地"])
        for values in sites:
            site_sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list], encoding: str, bom: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["事業計画認定情報 公表用データ"])
    writer.writerow(HEADERS)
    for values in rows:
        writer.writerow([v.strftime("%Y/%m/%d") if isinstance(v, datetime.datetime) else v for v in values])
    data = buffer.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def run(data: bytes, name: str):
    return facilities_import(io.BytesIO(data), name=name)


def test_it_imports_the_xlsx_list_with_its_header_rows_and_all_sites():
    data = xlsx_bytes(
        [
            row("A100001B01"),
            row(
                "A100002B02",
                発電出力kW="4.5",
                代表住所="北海道石狩郡当別町白樺町58-9",
                発電設備区分="風力発電設備",
                新規認定日=42000,
                運転開始報告年月="-",
            ),
        ],
        sites=[["A100001B01", "愛知県豊田市元城町1丁目"], ["A100001B01", "愛知県みよし市三好町小坂50"]],
    )
    result = run(data, "aichi.xlsx")
    assert result.errors == []
    assert (result.created, result.updated, result.unchanged) == (2, 0, 0)
    first = Facility.objects.get(facility_id="A100001B01")
    assert first.capacity_kw == Decimal("49.500")
    assert (first.prefecture_code, first.municipality_code, first.supply_area) == ("23", "232114", "chubu")
    assert first.certified_on == datetime.date(2015, 3, 20)
    assert first.operation_reported_month == datetime.date(2016, 4, 1)
    assert first.procurement_end_month == datetime.date(2036, 4, 1)
    assert first.other_parcel_count == 2
    assert list(first.sites.values_list("position", "municipality_code")) == [(1, "232114"), (2, "232360")]
    second = Facility.objects.get(facility_id="A100002B02")
    assert second.power_source == PowerSource.WIND
    assert second.municipality_code == "013030"  # 当別町, written with its district (石狩郡)
    assert second.certified_on == datetime.date(1899, 12, 30) + datetime.timedelta(days=42000)
    assert second.operation_reported_month is None


def test_reimporting_the_same_file_changes_nothing():
    data = xlsx_bytes([row("A100001B01"), row("A100002B02")], sites=[["A100001B01", "愛知県みよし市三好町小坂50"]])
    run(data, "aichi.xlsx")
    before = list(Facility.objects.order_by("pk").values())
    sites_before = list(FacilitySite.objects.order_by("pk").values())
    result = run(data, "aichi.xlsx")
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)
    assert list(Facility.objects.order_by("pk").values()) == before
    assert list(FacilitySite.objects.order_by("pk").values()) == sites_before


def test_a_changed_row_is_updated_and_fields_the_list_does_not_carry_are_kept():
    run(xlsx_bytes([row("A100001B01")]), "aichi.xlsx")
    Facility.objects.filter(facility_id="A100001B01").update(procurement_price=Decimal("29"), supply_area="tokyo")
    result = run(xlsx_bytes([row("A100001B01", 発電出力kW="45")]), "aichi.xlsx")
    assert (result.created, result.updated, result.unchanged) == (0, 1, 0)
    facility = Facility.objects.get(facility_id="A100001B01")
    assert facility.capacity_kw == Decimal("45")
    assert facility.procurement_price == Decimal("29")
    assert facility.supply_area == "tokyo"


def test_a_file_with_bad_rows_imports_nothing_and_names_each_bad_row():
    data = xlsx_bytes(
        [
            row("A100001B01"),
            row("bad id"),
            row("A100003B03", 発電出力kW="abc"),
            row("A100004B04", 新規認定日="2015/13/45"),
            row("A100005B05", 代表住所="どこか遠く"),
            row("A100001B01"),
            row("A100007B07", 運転開始報告年月="2016年13月", 自立運転機能="たぶん"),
        ]
    )
    result = run(data, "aichi.xlsx")
    assert Facility.objects.count() == 0
    lines = {error.line: error.reason for error in result.errors}
    assert set(lines) == {f"認定設備 {n}行目" for n in (6, 7, 8, 9, 10, 11)}
    assert "設備ID" in lines["認定設備 6行目"]
    assert "発電出力kW" in lines["認定設備 7行目"]
    assert "新規認定日" in lines["認定設備 8行目"]
    assert "代表住所" in lines["認定設備 9行目"]
    assert "重複" in lines["認定設備 10行目"]
    assert "運転開始報告年月" in lines["認定設備 11行目"] and "自立運転機能" in lines["認定設備 11行目"]
    # Reasons name the column; they never echo personal data from the row.
    assert all("山田" not in reason for reason in lines.values())


def test_a_site_row_for_an_unknown_facility_rejects_the_file():
    result = run(xlsx_bytes([row("A100001B01")], sites=[["Z999999Z99", "愛知県豊田市元城町1丁目"]]), "a.xlsx")
    assert [error.line for error in result.errors] == ["すべての設備所在地 3行目"]
    assert Facility.objects.count() == 0


def test_a_file_without_the_required_columns_is_rejected():
    workbook = openpyxl.Workbook()
    workbook.active.title = "認定設備"
    workbook.active.append(["設備ID", "発電事業者名"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = run(buffer.getvalue(), "a.xlsx")
    assert len(result.errors) == 1 and "列がありません" in result.errors[0].reason


@pytest.mark.parametrize(("encoding", "bom"), [("utf-8", True), ("utf-8", False), ("cp932", False)])
def test_csv_in_utf8_with_or_without_bom_and_in_shift_jis(encoding, bom):
    result = run(
        csv_bytes([row("A100001B01"), row("A100002B02", 代表住所="東京都新宿区西新宿2-8-1")], encoding, bom), "a.csv"
    )
    assert result.errors == []
    assert result.created == 2
    assert Facility.objects.get(facility_id="A100002B02").municipality_code == "131041"
    assert Facility.objects.get(facility_id="A100001B01").operator_name == "株式会社テスト発電"


def test_csv_bad_rows_are_reported_with_their_line_numbers():
    result = run(csv_bytes([row("A100001B01"), row("A100002B02", 発電出力kW="-1")], "utf-8"), "a.csv")
    assert [error.line for error in result.errors] == ["4行目"]
    assert Facility.objects.count() == 0


def test_the_command_prints_progress_and_fails_on_bad_rows(tmp_path: Path, capsys):
    good = tmp_path / "good.xlsx"
    good.write_bytes(xlsx_bytes([row(f"A1{n:05d}B01") for n in range(1, 1501)]))
    call_command("import_facilities", str(good))
    out = capsys.readouterr().out
    assert "good.xlsx: writing: 1000/1500" in out and "good.xlsx: created 1500, updated 0, unchanged 0" in out
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([row("A200001B01", 発電出力kW="x")], "utf-8"))
    with pytest.raises(CommandError, match="nothing was imported from them"):
        call_command("import_facilities", str(bad))
    assert "3行目" in capsys.readouterr().err
    assert Facility.objects.count() == 1500


@pytest.fixture
def eager_celery():
    """Tasks run in-process (the task is thin: it calls the service this suite tests against the real DB)."""
    from renergy.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_agency_staff_upload_a_file_and_follow_the_job(
    orgs, make_user, signed_in_client, django_capture_on_commit_callbacks, settings, tmp_path, eager_celery
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    client = signed_in_client(make_user(orgs.agency))
    upload = SimpleUploadedFile("aichi.xlsx", xlsx_bytes([row("A100001B01"), row("A100002B02")]))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("certifications:import_upload"), {"files": [upload]})
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert job.status == ImportStatus.SUCCEEDED
    assert (job.total_rows, job.processed_rows, job.created_count) == (2, 2, 2)
    page = client.get(reverse("certifications:import_job", args=[job.pk])).content.decode()
    assert "aichi.xlsx" in page and "100%" in page


@pytest.mark.parametrize("role", ["grid_tokyo", "tokyo_metro", "operator_a", "contractor", "designated"])
def test_only_agency_staff_may_upload(role, orgs, make_user, signed_in_client):
    client = signed_in_client(make_user(getattr(orgs, role)))
    assert client.get(reverse("certifications:import_upload")).status_code == 403
