"""The published list imports as published (column B, title rows, both sheets, heading variants, Excel's Shift_JIS
CSV, many files or a zip), through the command and the upload page; our own downloads import back unchanged."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from certifications.importers import facilities_import
from certifications.models import Facility, FacilitySite, ImportJob, ImportStatus, OperatorKind, PowerSource
from tests.certifications.published import published_csv, published_xlsx, yamanashi, zipped

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery():
    from renergy.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture
def file_storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }


def snapshot() -> tuple[list[Any], list[Any]]:
    return (
        list(Facility.objects.order_by("facility_id").values()),
        list(FacilitySite.objects.order_by("facility__facility_id", "position").values()),
    )


def assert_yamanashi_imported() -> None:
    company = Facility.objects.get(facility_id="A123456Y01")
    assert company.operator_name == "株式会社テスト山梨ソーラー"
    assert company.operator_kind == OperatorKind.CORPORATION
    assert company.capacity_kw == Decimal("49.500") and company.panel_capacity_kw == Decimal("62.400")
    assert company.certified_on == datetime.date(2014, 3, 20)
    assert company.planned_operation_on == datetime.date(2014, 10, 1)
    assert company.operation_reported_month == datetime.date(2015, 4, 1)
    assert company.procurement_end_month == datetime.date(2035, 4, 1)
    assert company.operator_phone == "055-000-0000"
    assert (company.prefecture_code, company.municipality_code, company.supply_area) == ("19", "192091", "tokyo")
    assert company.other_parcel_count == 2
    assert list(company.sites.values_list("position", "address")) == [
        (1, "山梨県北杜市長坂町長坂上条1"),
        (2, "山梨県北杜市長坂町長坂上条2"),
        (3, "山梨県北杜市長坂町長坂上条3"),
    ]
    person = Facility.objects.get(facility_id="F000123Y02")
    assert person.operator_kind == OperatorKind.INDIVIDUAL
    assert person.operation_reported_month == datetime.date(2013, 6, 1) and person.planned_operation_on is None
    city = Facility.objects.get(facility_id="S000777Y03")
    assert city.operator_kind == OperatorKind.CORPORATION  # a municipality is a public body
    assert city.planned_operation_on == datetime.date(2018, 4, 1)  # given as text
    assert city.self_sustained_operation is False
    assert list(city.sites.values_list("municipality_code", flat=True)) == ["192091", "192074"]
    wind = Facility.objects.get(facility_id="T000888Y04")
    assert wind.power_source == PowerSource.WIND and wind.municipality_code == "194298"


@pytest.mark.parametrize("kw", ["(kW)", "kW", "（ｋＷ）"])
def test_the_published_workbook_imports_as_published(kw):
    result = facilities_import(io.BytesIO(published_xlsx(yamanashi(), kw=kw)), name="19_yamanashi.xlsx")
    assert result.errors == [] and result.unrecognised == []
    assert (result.created, result.updated, result.unchanged) == (4, 0, 0)
    assert_yamanashi_imported()
    before = snapshot()
    again = facilities_import(io.BytesIO(published_xlsx(yamanashi(), kw=kw)), name="19_yamanashi.xlsx")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert snapshot() == before


def test_the_shift_jis_csv_excel_saves_from_it_imports_the_same():
    result = facilities_import(io.BytesIO(published_csv(yamanashi())), name="19_yamanashi.csv")
    assert result.errors == [] and result.unrecognised == []
    assert result.created == 4
    assert Facility.objects.get(facility_id="A123456Y01").certified_on == datetime.date(2014, 3, 20)
    assert FacilitySite.objects.filter(facility__facility_id="A123456Y01").count() == 1  # the CSV has no sites sheet


def test_unknown_columns_and_sheets_are_listed_not_dropped_silently():
    data = published_xlsx(yamanashi(), extra_heading="備考", extra_sheet="凡例")
    result = facilities_import(io.BytesIO(data), name="19.xlsx")
    assert result.errors == []
    assert "認定設備: 備考" in result.unrecognised
    assert any("凡例" in item for item in result.unrecognised)


def test_the_command_imports_several_files_and_a_zip_with_progress_per_file(tmp_path: Path, capsys):
    first, second = yamanashi()[:2], yamanashi()[2:]
    (tmp_path / "19a.xlsx").write_bytes(published_xlsx(first))
    (tmp_path / "all.zip").write_bytes(
        zipped(
            {"lists/19b.xlsx": published_xlsx(second), "lists/19c.csv": published_csv(yamanashi()), "readme.txt": b"x"}
        )
    )
    call_command("import_facilities", str(tmp_path / "19a.xlsx"), str(tmp_path / "all.zip"))
    out = capsys.readouterr().out
    assert "19a.xlsx: writing: 2/2 (100%)" in out and "19a.xlsx: created 2, updated 0, unchanged 0" in out
    assert "all.zip/19b.xlsx: created 2, updated 0, unchanged 0" in out
    # The CSV carries no sites sheet, so the facilities with several parcels are updated to their one address.
    assert "all.zip/19c.csv: created 0, updated 2, unchanged 2" in out
    assert Facility.objects.count() == 4


def test_a_bad_file_among_several_imports_nothing_of_itself_and_the_rest_goes_in(tmp_path: Path, capsys):
    bad = yamanashi()
    bad[1].capacity = Decimal("-1")
    (tmp_path / "good.xlsx").write_bytes(published_xlsx(yamanashi()[:1]))
    (tmp_path / "bad.xlsx").write_bytes(published_xlsx(bad))
    with pytest.raises(CommandError, match="1 file"):
        call_command("import_facilities", str(tmp_path / "good.xlsx"), str(tmp_path / "bad.xlsx"))
    assert "bad.xlsx: 認定設備 6行目: 発電出力(kW): 範囲外の数値です" in capsys.readouterr().err
    assert list(Facility.objects.values_list("facility_id", flat=True)) == ["A123456Y01"]


def test_the_upload_page_takes_the_published_file(orgs, make_user, signed_in_client, file_storage, eager_celery,
                                                  django_capture_on_commit_callbacks):  # fmt: skip
    client = signed_in_client(make_user(orgs.agency))
    upload = SimpleUploadedFile("19_yamanashi.xlsx", published_xlsx(yamanashi()))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("certifications:import_upload"), {"files": [upload]})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("certifications:import_job", args=[job.pk])
    assert job.status == ImportStatus.SUCCEEDED and (job.created_count, job.unrecognised) == (4, [])
    assert_yamanashi_imported()
    page = client.get(response["Location"]).content.decode()
    assert "19_yamanashi.xlsx" in page and "100%" in page


def test_the_upload_page_takes_several_files_and_a_zip_and_shows_each_files_progress(
    orgs, make_user, signed_in_client, file_storage, eager_celery, django_capture_on_commit_callbacks
):
    client = signed_in_client(make_user(orgs.agency))
    uploads = [
        SimpleUploadedFile("19a.xlsx", published_xlsx(yamanashi()[:2], extra_heading="備考")),
        SimpleUploadedFile("rest.zip", zipped({"19b.xlsx": published_xlsx(yamanashi()[2:]), "bad.csv": b"x,y\r\n"})),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("certifications:import_upload"), {"files": uploads})
    jobs = {job.original_name: job for job in ImportJob.objects.all()}
    assert set(jobs) == {"19a.xlsx", "19b.xlsx", "bad.csv"}
    assert response["Location"] == reverse("certifications:import_batch", args=[jobs["19a.xlsx"].batch])
    assert jobs["19a.xlsx"].status == jobs["19b.xlsx"].status == ImportStatus.SUCCEEDED
    assert jobs["bad.csv"].status == ImportStatus.FAILED
    assert Facility.objects.count() == 4
    page = client.get(response["Location"]).content.decode()
    for name in jobs:
        assert name in page
    assert page.count("100%") >= 2
    detail = client.get(reverse("certifications:import_job", args=[jobs["19a.xlsx"].pk])).content.decode()
    assert "備考" in detail


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_of_everything_imports_back_unchanged(fmt, orgs, make_user, signed_in_client):
    facilities_import(io.BytesIO(published_xlsx(yamanashi())), name="19.xlsx")
    # Fields the published list does not carry, so the round trip covers every exported column.
    Facility.objects.filter(facility_id="A123456Y01").update(
        procurement_price=Decimal("36"),
        plant_name="=HYPERLINK(テスト)",
        status="lapsed",
        scheme="fip",
        wiring="full",
        installation_form="ground",
        panel_maker="テストパネル",
        specified_corporation=True,
        lapse_deadline=datetime.date(2017, 3, 31),
        operator_kind=OperatorKind.INDIVIDUAL,  # set by the agency against the derivation
    )
    before = snapshot()
    client = signed_in_client(make_user(orgs.agency))
    response = client.get(reverse(f"certifications:export_{fmt}"))
    data = b"".join(response.streaming_content)
    result = facilities_import(io.BytesIO(data), name=f"facilities.{fmt}")
    assert result.errors == [] and result.unrecognised == []
    assert (result.created, result.updated, result.unchanged) == (0, 0, 4)
    assert snapshot() == before
