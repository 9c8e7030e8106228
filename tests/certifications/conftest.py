"""Facilities for the cast.

Every facility carries a distinctive value in every field, so a test can look for each field's text in
any output and know that it leaked.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.utils.formats import date_format

from certifications.models import (
    Facility,
    FacilitySite,
    FacilityStatus,
    InstallationForm,
    OperatorKind,
    PowerSource,
    Scheme,
    Wiring,
)
from certifications.municipalities import resolve_address
from renergy.geography import default_supply_area


def distinctive_values(tag: str) -> dict[str, Any]:
    """A value per field whose rendering appears nowhere else (tag keeps facilities apart)."""
    return {
        "operator_name": f"〓operatorname{tag}",
        "operator_kind": OperatorKind.CORPORATION,
        "representative_name": f"〓representative{tag}",
        "operator_address": f"〓opaddress{tag}",
        "operator_phone": f"〓phone{tag}",
        "specified_corporation": True,
        "application_date": datetime.date(2001, 1, 11),
        "certified_on": datetime.date(2002, 2, 12),
        "change_certified_on": datetime.date(2003, 3, 13),
        "planned_operation_on": datetime.date(2004, 4, 14),
        "operation_start_on": datetime.date(2005, 5, 15),
        "operation_reported_month": datetime.date(2006, 6, 1),
        "status": FacilityStatus.CERTIFIED,
        "lapse_deadline": datetime.date(2007, 7, 17),
        "procurement_price": Decimal("87.65"),
        "procurement_end_month": datetime.date(2008, 8, 1),
        "connection_contract_on": datetime.date(2009, 9, 19),
        "wiring": Wiring.FULL,
        "disposal_reserve_method": f"〓disposalmethod{tag}",
        "disposal_reserve_status": f"〓disposalstatus{tag}",
        "power_source": PowerSource.SOLAR,
        "capacity_kw": Decimal("4321.987"),
        "plant_name": f"〓plant{tag}",
        "other_parcel_count": 777,
        "panel_capacity_kw": Decimal("5432.876"),
        "panel_maker": f"〓maker{tag}",
        "panel_model": f"〓model{tag}",
        "installation_form": InstallationForm.AGRIVOLTAIC,
        "self_sustained_operation": True,
        "power_outlet": True,
        "scheme": Scheme.FIP,
    }


# How each field's value shows up in a page/CSV/XLSX for the distinctive facility; None when the value
# (a choice label, 有/無) is too common to search for — those are checked through their labels.
def distinctive_text(tag: str, *, page: bool = False) -> dict[str, str | None]:
    """Files carry ISO dates; pages (page=True) show them in the active language's DATE_FORMAT."""
    values = distinctive_values(tag)
    text = _file_text(tag, values)
    if page:
        for field, value in values.items():
            if isinstance(value, datetime.date) and text.get(field) == value.isoformat():
                text[field] = date_format(value, "DATE_FORMAT")
    return text


def _file_text(tag: str, values: dict[str, Any]) -> dict[str, str | None]:
    return {
        "facility_id": None,
        "operator_name": values["operator_name"],
        "operator_kind": None,
        "representative_name": values["representative_name"],
        "operator_address": values["operator_address"],
        "operator_phone": values["operator_phone"],
        "specified_corporation": None,
        "application_date": "2001-01-11",
        "certified_on": "2002-02-12",
        "change_certified_on": "2003-03-13",
        "planned_operation_on": "2004-04-14",
        "operation_start_on": "2005-05-15",
        "operation_reported_month": "2006年6月",
        "status": None,
        "lapse_deadline": "2007-07-17",
        "procurement_price": "87.65",
        "procurement_end_month": "2008年8月",
        "connection_contract_on": "2009-09-19",
        "wiring": None,
        "disposal_reserve_method": values["disposal_reserve_method"],
        "disposal_reserve_status": values["disposal_reserve_status"],
        "power_source": None,
        "capacity_kw": "4321.987",
        "plant_name": values["plant_name"],
        "scheme": None,
        "supply_area": None,
        "prefecture_code": None,
        "municipality_code": None,  # checked through site_address / sites
        "site_address": f"〓site{tag}",
        "other_parcel_count": "777",
        "sites": f"〓extrasite{tag}",
        "panel_capacity_kw": "5432.876",
        "panel_maker": values["panel_maker"],
        "panel_model": values["panel_model"],
        "installation_form": None,
        "self_sustained_operation": None,
        "power_outlet": None,
    }


def facility_create(
    facility_id: str,
    address: str,
    *,
    organisation: Any = None,
    extra_sites: tuple[str, ...] = (),
    tag: str | None = None,
    **overrides: Any,
) -> Facility:
    """A facility at `address` (a real 都道府県+市区町村 address) with its representative site and any others."""
    location = resolve_address(address)
    assert location is not None, address
    prefecture, municipality = location
    tag = tag or facility_id
    values = {
        **distinctive_values(tag),
        "facility_id": facility_id,
        "site_address": f"{address}〓site{tag}",
        "prefecture_code": prefecture,
        "municipality_code": municipality,
        "supply_area": default_supply_area(prefecture),
        "organisation": organisation,
        **overrides,
    }
    facility = Facility.objects.create(**values)
    FacilitySite.objects.create(
        facility=facility,
        position=1,
        address=values["site_address"],
        prefecture_code=prefecture,
        municipality_code=municipality,
    )
    for position, other in enumerate(extra_sites, start=2):
        other_prefecture, other_municipality = resolve_address(other) or ("", "")
        FacilitySite.objects.create(
            facility=facility,
            position=position,
            address=f"{other}〓extrasite{tag}",
            prefecture_code=other_prefecture,
            municipality_code=other_municipality,
        )
    return facility


@pytest.fixture
def make_facility(db: None):
    return facility_create
