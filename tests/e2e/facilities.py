"""Facilities for the browser tests, created the way the register holds them (not through the UI under test)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from certifications.models import Facility, OperatorKind, PowerSource


def make_facility(facility_id: str, *, supply_area: str, prefecture_code: str, **extra: Any) -> Facility:
    fields: dict[str, Any] = {
        "facility_id": facility_id,
        "operator_name": "株式会社サンプル太陽光",
        "operator_kind": OperatorKind.CORPORATION,
        "representative_name": "山田 太郎",
        "operator_address": "東京都千代田区霞が関1-3-1",
        "certified_on": dt.date(2024, 4, 1),
        "power_source": PowerSource.SOLAR,
        "capacity_kw": Decimal("49.500"),
        "plant_name": f"サンプル発電所{facility_id[-3:]}",
        "prefecture_code": prefecture_code,
        "municipality_code": {"13": "131016", "27": "271004"}[prefecture_code],
        "site_address": "テスト市テスト町1-1",
        "supply_area": supply_area,
    }
    fields.update(extra)
    return Facility.objects.create(**fields)
