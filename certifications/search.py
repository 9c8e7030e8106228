"""The facility search: filters, sort whitelist and keyset pagination, limited to what the policy allows.

A filter or sort is offered and applied only when the person may see the field it reads; a query parameter
naming anything else is ignored. Pages are keyset ("after this row"), fetching page_size + 1 rows to know
whether a next page exists. The result count is exact up to COUNT_EXACT_UP_TO and the planner's estimate
beyond it, so no page ever counts a large scope row by row.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django import forms
from django.db import connection
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import QueryDict
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from certifications import policy
from certifications.models import Facility, FacilityStatus, PowerSource, Scheme
from certifications.municipalities import is_municipality_code
from renergy.geography import PREFECTURE_CHOICES, SupplyArea

PAGE_SIZE = 50
# Up to this many matches the list shows the exact count (a bounded COUNT over at most this many + 1 rows,
# a few milliseconds); past it, PostgreSQL's own estimate of the match (EXPLAIN, no rows read), shown as 約.
COUNT_EXACT_UP_TO = 2_000

# Columns of the list page, in order (each shown only if allowed).
LIST_FIELDS: tuple[str, ...] = (
    "facility_id",
    "plant_name",
    "operator_name",
    "power_source",
    "capacity_kw",
    "prefecture_code",
    "municipality_code",
    "certified_on",
    "status",
    "scheme",
    "supply_area",
)

# Sort key -> (column, descending). Only NOT NULL columns, each with an index ending in facility_id.
SORTS: dict[str, tuple[str, bool]] = {
    "facility_id": ("facility_id", False),
    "capacity_kw": ("capacity_kw", False),
    "-capacity_kw": ("capacity_kw", True),
    "certified_on": ("certified_on", False),
    "-certified_on": ("certified_on", True),
}
SORT_LABELS = {
    "facility_id": _("設備ID順"),
    "capacity_kw": _("設備容量の小さい順"),
    "-capacity_kw": _("設備容量の大きい順"),
    "certified_on": _("認定日の古い順"),
    "-certified_on": _("認定日の新しい順"),
}
DEFAULT_SORT = "facility_id"

# Form field -> the lookup it filters by. The filter exists only when the policy allows the field it reads.
FILTER_LOOKUPS: dict[str, str] = {
    "area": "supply_area",
    "pref": "prefecture_code",
    "muni": "municipality_code",
    "source": "power_source",
    "cap_min": "capacity_kw__gte",
    "cap_max": "capacity_kw__lte",
    "cert_from": "certified_on__gte",
    "cert_to": "certified_on__lte",
    "status": "status",
    "scheme": "scheme",
}
# Form field -> the policy field it reads.
FILTER_FIELDS: dict[str, str] = {name: lookup.split("__")[0] for name, lookup in FILTER_LOOKUPS.items()}


def _blank(choices: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return [("", _("すべて")), *choices]


class FacilitySearchForm(forms.Form):
    """GET form; built per person so that only allowed filters and sorts exist at all."""

    q = forms.CharField(label=_("発電所名・事業者名"), required=False, max_length=100)
    area = forms.ChoiceField(label=_("供給区域"), required=False, choices=_blank(SupplyArea.choices))
    pref = forms.ChoiceField(label=_("都道府県"), required=False, choices=_blank(PREFECTURE_CHOICES))
    muni = forms.CharField(
        label=_("市区町村コード"), required=False, max_length=6, help_text=_("全国地方公共団体コード（6桁）")
    )
    source = forms.ChoiceField(label=_("電源種別"), required=False, choices=_blank(PowerSource.choices))
    cap_min = forms.DecimalField(
        label=_("設備容量（kW）下限"), required=False, min_value=0, max_digits=12, decimal_places=3
    )
    cap_max = forms.DecimalField(
        label=_("設備容量（kW）上限"), required=False, min_value=0, max_digits=12, decimal_places=3
    )
    cert_from = forms.DateField(
        label=_("認定日（から）"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    cert_to = forms.DateField(label=_("認定日（まで）"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(label=_("認定状況"), required=False, choices=_blank(FacilityStatus.choices))
    scheme = forms.ChoiceField(label=_("FIT/FIP"), required=False, choices=_blank(Scheme.choices))
    sort = forms.ChoiceField(label=_("並び順"), required=False)

    def __init__(self, data: Any, *, allowed: Iterable[str]) -> None:
        super().__init__(data)
        allowed = set(allowed)
        self.allowed = allowed
        for name, field in FILTER_FIELDS.items():
            if field not in allowed:
                del self.fields[name]
        if not allowed & {"plant_name", "operator_name"}:
            del self.fields["q"]
        cast(forms.ChoiceField, self.fields["sort"]).choices = [
            (key, label) for key, label in SORT_LABELS.items() if SORTS[key][0] in allowed
        ]

    def clean_muni(self) -> str:
        code = self.cleaned_data.get("muni", "")
        if code and not is_municipality_code(code):
            raise forms.ValidationError(_("全国地方公共団体コード（6桁）を入力してください。"))
        return code

    @property
    def sort_key(self) -> str:
        key = self.cleaned_data.get("sort") if hasattr(self, "cleaned_data") else None
        return key if key in SORTS and SORTS[key][0] in self.allowed else DEFAULT_SORT


def search_queryset(user: Any, form: FacilitySearchForm) -> QuerySet[Facility]:
    """The person's scope narrowed by the valid, allowed filters (invalid ones are shown as errors, not applied)."""
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    queryset = Facility.objects.visible_to(user)
    conditions = {
        lookup: data[name]
        for name, lookup in FILTER_LOOKUPS.items()
        if name in form.fields and data.get(name) not in (None, "")
    }
    queryset = queryset.filter(**conditions)
    text = (data.get("q") or "").strip()
    if text and "q" in form.fields:
        text_q = Q()
        for column in ("plant_name", "operator_name"):
            if column in form.allowed:
                text_q |= policy.text_match(user, column, text)
        queryset = queryset.filter(text_q)
    return queryset


@dataclass
class Cursor:
    value: Any
    facility_id: str

    def encode(self, column: str) -> str:
        if column == "facility_id":
            return self.facility_id
        return f"{self.value}~{self.facility_id}"


_CURSOR_BOUND = Decimal(10**12)


def parse_cursor(raw: str, column: str) -> Cursor | None:
    """A cursor from the `after` parameter, or None (first page) when it does not parse."""
    if not raw or len(raw) > 80:
        return None
    if column == "facility_id":
        return Cursor(raw, raw)
    value, _sep, facility_id = raw.partition("~")
    if not facility_id:
        return None
    try:
        parsed: Any = Decimal(value) if column == "capacity_kw" else datetime.date.fromisoformat(value)
    except (InvalidOperation, ValueError):
        return None
    if isinstance(parsed, Decimal):
        if not parsed.is_finite():
            return None
        # A tampered cursor such as 1e999999 overflowed PostgreSQL's numeric in the comparison (a 500). Every row
        # fits numeric(12, 3), so a value clamped to ±1e12, or a vanishing one taken as 0, compares alike with them.
        parsed = Decimal(0) if parsed.adjusted() < -6 else max(min(parsed, _CURSOR_BOUND), -_CURSOR_BOUND)
    return Cursor(parsed, facility_id)


def ordered(queryset: QuerySet[Facility], sort_key: str) -> QuerySet[Facility]:
    column, descending = SORTS[sort_key]
    if column == "facility_id":
        return queryset.order_by("-facility_id" if descending else "facility_id")
    prefix = "-" if descending else ""
    return queryset.order_by(f"{prefix}{column}", f"{prefix}facility_id")


def after(queryset: QuerySet[Facility], sort_key: str, cursor: Cursor | None) -> QuerySet[Facility]:
    """Rows strictly after the cursor in the sort order, as a row-value comparison that the
    (column, facility_id) index answers with a range scan."""
    if cursor is None:
        return queryset
    column, descending = SORTS[sort_key]
    if column == "facility_id":
        lookup = "facility_id__lt" if descending else "facility_id__gt"
        return queryset.filter(**{lookup: cursor.facility_id})
    table = Facility._meta.db_table
    operator = "<" if descending else ">"
    # `column` comes from the SORTS whitelist, never from the request.
    condition = RawSQL(  # noqa: S611 - identifiers from the whitelist, values bound as parameters
        f'("{table}"."{column}", "{table}"."facility_id") {operator} (%s, %s)',
        (cursor.value, cursor.facility_id),
        output_field=BooleanField(),
    )
    return queryset.filter(condition)


@dataclass
class Page:
    rows: list[dict[str, Any]]
    fields: tuple[str, ...]
    next_cursor: str | None


def search_page(user: Any, form: FacilitySearchForm, *, after_raw: str = "", page_size: int = PAGE_SIZE) -> Page:
    """One page of the search with the allowed list columns."""
    allowed = policy.allowed_fields(user)
    fields = tuple(field for field in LIST_FIELDS if field in allowed)
    if not fields:
        return Page([], (), None)
    queryset = search_queryset(user, form)
    sort_key = form.sort_key
    column, _descending = SORTS[sort_key]
    queryset = after(ordered(queryset, sort_key), sort_key, parse_cursor(after_raw, column))
    rows = policy.visible_rows(queryset, user, fields, limit=page_size + 1)
    next_cursor = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        last = rows[-1]
        next_cursor = Cursor(last[column], last["facility_id"]).encode(column)
    return Page(rows, fields, next_cursor)


@dataclass(frozen=True)
class ResultCount:
    value: int
    exact: bool
    at_least: bool = False  # counted up to the threshold and found more: a lower bound, not an estimate

    @property
    def text(self) -> str:
        """「1,234 件」 when exact, 「2,000 件以上」 for a lower bound, 「約 12,300 件」 (three significant digits)
        when estimated."""
        if self.exact:
            return ngettext("%(count)s 件", "%(count)s 件", self.value) % {"count": f"{self.value:,}"}
        if self.at_least:
            return gettext("%(count)s 件以上") % {"count": f"{self.value:,}"}
        digits = len(str(self.value))
        rounded = round(self.value, -(digits - 3)) if digits > 3 else self.value
        return gettext("約 %(count)s 件") % {"count": f"{rounded:,}"}


def search_count(queryset: QuerySet[Facility], *, first_page: Page | None = None, text: bool = False) -> ResultCount:
    """How many facilities the search matches: exact up to COUNT_EXACT_UP_TO, PostgreSQL's estimate beyond.

    The estimate (EXPLAIN, planning only) comes first: counting row by row is done only where the planner
    expects a small match, so a large scope never costs a COUNT. A first page without a next page is its own
    exact count. With a text condition (`text`) a small match can still mean reading every row of the scope
    (a two-character name has no trigram to look up: "佐藤 in pref 13" read all 24,000 rows to count 900), so
    only the estimate is shown."""
    if first_page is not None and first_page.next_cursor is None:
        return ResultCount(len(first_page.rows), exact=True)
    estimate = planner_estimate(queryset)
    if estimate > COUNT_EXACT_UP_TO or text:
        return ResultCount(max(estimate, len(first_page.rows) if first_page else 0), exact=False)
    counted = queryset.order_by()[: COUNT_EXACT_UP_TO + 1].count()
    if counted <= COUNT_EXACT_UP_TO:
        return ResultCount(counted, exact=True)
    # The estimate was too low (a municipality's scope is always estimated small: policy.scope_filter's array
    # is of unknown size to the planner): "more than" is all that is known.
    return ResultCount(COUNT_EXACT_UP_TO, exact=False, at_least=True)


def planner_estimate(queryset: QuerySet[Facility]) -> int:
    """PostgreSQL's estimate of the rows the queryset matches (EXPLAIN: planned, not run)."""
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    return int((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]["Plan Rows"])


# Query parameters that make up a search (the conditions a "back to the search" link keeps).
SEARCH_PARAMETERS: tuple[str, ...] = ("q", *dict.fromkeys(FILTER_FIELDS), "sort")


def search_conditions(params: QueryDict, *, with_cursor: bool = False) -> str:
    """The search's own parameters from a query string (first value of each, length-bounded), URL-encoded:
    what a link back to the list carries. Anything else in the query string is dropped."""
    kept = QueryDict(mutable=True)
    for name in (*SEARCH_PARAMETERS, "after") if with_cursor else SEARCH_PARAMETERS:
        value = params.get(name, "")
        if value and len(value) <= 100:
            kept[name] = value
    return kept.urlencode()
