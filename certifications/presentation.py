"""How a policy field is labelled and shown (page, CSV, XLSX): one place, so every output agrees."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from certifications.models import facility_field
from certifications.municipalities import municipality_name
from renergy.geography import PREFECTURES

MONTH_FIELDS = frozenset({"operation_reported_month", "procurement_end_month"})


def field_label(field: str) -> str:
    if field == "sites":
        return str(gettext_lazy("すべての設備所在地"))
    return str(facility_field(field).verbose_name)


def _decimal(value: Decimal) -> str:
    return format(value.normalize(), "f")


def formatter(field: str, *, page: bool = False) -> Callable[[Any], str]:
    """A function turning a raw column value into its display text, specialised per field and built once per
    output (exports call it per column, then per cell), with translations resolved up front.

    Pages show dates in the reader's language (2024年4月1日); files keep ISO dates, which Excel reads as dates."""
    if field == "municipality_code":
        return lambda value: f"{value} {municipality_name(value)}".strip() if value else ""
    if field == "prefecture_code":
        return lambda value: PREFECTURES[value][0] if value in PREFECTURES else (value or "")
    if field in MONTH_FIELDS:
        template = _("%(year)d年%(month)d月")
        return lambda value: template % {"year": value.year, "month": value.month} if value else ""
    if field == "sites":  # already joined text
        return lambda value: value or ""
    model_field = facility_field(field)
    if model_field.choices:
        labels = {key: str(label) for key, label in model_field.flatchoices}
        return lambda value: labels.get(value, value) if value else ""
    if isinstance(model_field, models.BooleanField):
        yes, no = _("有"), _("無")
        return lambda value: "" if value is None else (yes if value else no)
    if isinstance(model_field, models.DecimalField):
        return lambda value: "" if value is None else _decimal(value)
    if isinstance(model_field, models.DateField):
        if page:
            return lambda value: "" if value is None else date_format(value, "DATE_FORMAT")
        return lambda value: "" if value is None else value.isoformat()
    if isinstance(model_field, models.CharField):
        return lambda value: value or ""
    return lambda value: "" if value is None else str(value)


def present(field: str, value: Any) -> str:
    return formatter(field, page=True)(value)


# Detail page sections, grouped as in DESIGN's facility-data table. Only allowed fields are shown.
DETAIL_SECTIONS: tuple[tuple[Any, tuple[str, ...]], ...] = (
    (
        gettext_lazy("認定計画"),
        (
            "facility_id",
            "operator_name",
            "operator_kind",
            "representative_name",
            "operator_address",
            "operator_phone",
            "specified_corporation",
            "certified_on",
            "change_certified_on",
            "application_date",
        ),
    ),
    (
        gettext_lazy("発電事業"),
        (
            "planned_operation_on",
            "operation_start_on",
            "operation_reported_month",
            "procurement_price",
            "procurement_end_month",
            "connection_contract_on",
            "status",
            "lapse_deadline",
            "disposal_reserve_method",
            "disposal_reserve_status",
        ),
    ),
    (
        gettext_lazy("設備"),
        (
            "power_source",
            "capacity_kw",
            "plant_name",
            "prefecture_code",
            "municipality_code",
            "site_address",
            "other_parcel_count",
            "sites",
            "panel_capacity_kw",
            "panel_maker",
            "panel_model",
            "wiring",
            "installation_form",
            "self_sustained_operation",
            "power_outlet",
        ),
    ),
    (gettext_lazy("制度"), ("scheme", "supply_area")),
)


def display_rows(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    """Rows for a template: the facility ID (for the link) and the display text of each allowed field."""
    formatters = [formatter(field, page=True) for field in fields]
    return [
        {
            "facility_id": row["facility_id"],
            "cells": [fmt(row[field]) for field, fmt in zip(fields, formatters, strict=True)],
        }
        for row in rows
    ]


def detail_sections(facility: Any) -> list[dict[str, Any]]:
    """[{title, items: [{label, text, lines}]}] with allowed fields only; empty sections dropped."""
    sections = []
    for title, names in DETAIL_SECTIONS:
        items: list[dict[str, Any]] = []
        for name in names:
            if name not in facility.fields:
                continue
            if name == "sites":
                lines = [
                    f"{site['address']}（{present('municipality_code', site['municipality_code'])}）"
                    for site in facility.sites
                ]
                items.append({"label": field_label(name), "text": "", "lines": lines})
            else:
                items.append({"label": field_label(name), "text": present(name, facility.values[name]), "lines": []})
        if items:
            sections.append({"title": title, "items": items})
    return sections
