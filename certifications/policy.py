"""THE visibility policy: which facilities (scope) and which fields (groups) each role may see.

One table, `POLICY` (with `ORGANISATION_SETTINGS`, the rows an organisation's own setting puts in place of its
kind's), rendered into docs/visibility.md by `manage.py render_visibility_doc` and tested
exhaustively. Everything that shows facility data reads it through `Facility.objects.visible_to(user)`
(scope_filter below) and `allowed_fields(user)`; a field not allowed is never selected from the database.

Additions to the DESIGN matrix, each placed in the group whose rule fits it:
- `scheme` (FIT/FIP) and `supply_area` sit with the basic identification fields (every facility role).
- `operator_phone` (事業者の電話番号 in the public list) sits with the personal data of the operator.
- `planned_operation_on`, `operation_reported_month`, `status` sit with the dates and lapse information.
- `disposal_reserve_*` (廃棄費用の積立) sit with the procurement terms of the generation business.
- `other_parcel_count` and `sites` (all 所在地) sit with the site address.
- `self_sustained_operation`, `power_outlet` sit with the equipment details.
- `operator_kind` (法人・個人の別) sits with the specified-corporation flag.

Masks (`MASKS`): a field a role may see can still be personal data on some facilities. An individual's
事業者名 is that person's name, so a role without the personal-data group sees the mask text instead, on every
output (the database computes it: pages, CSV, XLSX) and the free-text search does not match the hidden name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import BooleanField, Case, Exists, F, Func, OuterRef, Q, QuerySet, Value, When
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from accounts.models import AccountStatus, BureauScope, OrganisationKind


class Scope(enum.Enum):
    ALL = "all"
    AREA = "area"  # own supply area
    JURISDICTION = "jurisdiction"  # own prefecture or municipality (any of the facility's sites)
    REGION = "region"  # a regional bureau's own prefectures (any of the facility's sites)
    OWN = "own"  # facilities of the person's own organisation
    NONE = "none"


SCOPE_LABELS: dict[Scope, Promise] = {
    Scope.ALL: _("全設備"),
    Scope.AREA: _("自社の供給区域のみ"),
    Scope.JURISDICTION: _("自らの管轄区域のみ"),
    Scope.REGION: _("自局の管轄府県のみ"),
    Scope.OWN: _("自らの設備のみ"),
    Scope.NONE: _("なし"),
}


@dataclass(frozen=True)
class FieldGroup:
    key: str
    label: Promise
    fields: tuple[str, ...]


# Field groups, in the order of the DESIGN matrix rows. Field names are Facility model fields, except
# `sites` (the FacilitySite rows). These names are what audit.disclosure.disclose() receives.
GROUPS: tuple[FieldGroup, ...] = (
    FieldGroup(
        "basic",
        _("設備ID・電源種別・設備容量・発電所名称・制度・供給区域"),
        ("facility_id", "power_source", "capacity_kw", "plant_name", "scheme", "supply_area"),
    ),
    FieldGroup("operator_name", _("事業者名"), ("operator_name",)),
    FieldGroup(
        "operator_personal",
        _("設置者名（代表者名）・事業者住所・電話番号（個人情報）"),
        ("representative_name", "operator_address", "operator_phone"),
    ),
    FieldGroup(
        "operator_status",
        _("規定法人該当性・申請年月日・法人／個人の別"),
        ("specified_corporation", "application_date", "operator_kind"),
    ),
    FieldGroup(
        "dates",
        _("認定年月日・運転開始・失効に係る情報"),
        (
            "certified_on",
            "change_certified_on",
            "planned_operation_on",
            "operation_start_on",
            "operation_reported_month",
            "status",
            "lapse_deadline",
        ),
    ),
    FieldGroup(
        "procurement",
        _("調達価格・調達期間満了年月・接続契約締結日・配線区分"),
        (
            "procurement_price",
            "procurement_end_month",
            "connection_contract_on",
            "wiring",
            "disposal_reserve_method",
            "disposal_reserve_status",
        ),
    ),
    FieldGroup(
        "site",
        _("設置場所"),
        ("prefecture_code", "municipality_code", "site_address", "other_parcel_count", "sites"),
    ),
    FieldGroup(
        "equipment",
        _("パネル容量・メーカー・型式・設置形態"),
        (
            "panel_capacity_kw",
            "panel_maker",
            "panel_model",
            "installation_form",
            "self_sustained_operation",
            "power_outlet",
        ),
    ),
)

GROUP_BY_KEY = {group.key: group for group in GROUPS}
ALL_FIELDS: tuple[str, ...] = tuple(field for group in GROUPS for field in group.fields)
RELATED_FIELDS = frozenset({"sites"})  # not a column of Facility

_EVERYTHING = frozenset(GROUP_BY_KEY)


@dataclass(frozen=True)
class RolePolicy:
    scope: Scope
    groups: frozenset[str]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(field for group in GROUPS if group.key in self.groups for field in group.fields)


# THE TABLE. Keys are organisation kinds (a person's role); a kind that is missing here sees nothing.
POLICY: dict[str, RolePolicy] = {
    OrganisationKind.AGENCY: RolePolicy(Scope.ALL, _EVERYTHING),
    OrganisationKind.BUREAU: RolePolicy(Scope.ALL, _EVERYTHING),
    OrganisationKind.DESIGNATED: RolePolicy(Scope.ALL, _EVERYTHING),
    OrganisationKind.GRID: RolePolicy(
        Scope.AREA, frozenset({"basic", "operator_name", "dates", "procurement", "site"})
    ),
    OrganisationKind.LOCAL_GOV: RolePolicy(
        Scope.JURISDICTION, frozenset({"basic", "operator_name", "dates", "site", "equipment"})
    ),
    OrganisationKind.OPERATOR: RolePolicy(Scope.OWN, _EVERYTHING),
    OrganisationKind.CONTRACTOR: RolePolicy(Scope.NONE, frozenset()),
}

NOTHING = RolePolicy(Scope.NONE, frozenset())


@dataclass(frozen=True)
class OrganisationSetting:
    """An organisation setting that replaces its kind's row of POLICY when it holds `value`."""

    kind: str
    setting: str  # an Organisation field
    value: str
    policy: RolePolicy


# THE SETTINGS. The agency may confine a regional bureau (経済産業局) to its own prefectures
# (renergy.geography.BUREAU_PREFECTURES); the default row above (all facilities) holds otherwise.
ORGANISATION_SETTINGS: tuple[OrganisationSetting, ...] = (
    OrganisationSetting(
        OrganisationKind.BUREAU, "bureau_scope", BureauScope.REGION, RolePolicy(Scope.REGION, _EVERYTHING)
    ),
)


@dataclass(frozen=True)
class Mask:
    """On facilities where `when_field` equals `when_value`, readers without `unless_group` see `text`
    instead of `field`."""

    field: str
    when_field: str
    when_value: str
    unless_group: str
    text: Promise


# THE MASKS. A private person's name is personal data: only the personal-data group sees it.
MASKS: tuple[Mask, ...] = (Mask("operator_name", "operator_kind", "individual", "operator_personal", _("個人")),)


def policy_for(user: Any) -> RolePolicy:
    """The person's policy; NOTHING for anyone not signed in, not active, or in an inactive organisation."""
    if user is None or not getattr(user, "is_authenticated", False):
        return NOTHING
    if getattr(user, "status", None) != AccountStatus.ACTIVE:
        return NOTHING
    organisation = getattr(user, "organisation", None)
    if organisation is None or not organisation.is_active:
        return NOTHING
    for setting in ORGANISATION_SETTINGS:
        if organisation.kind == setting.kind and getattr(organisation, setting.setting) == setting.value:
            return setting.policy
    return POLICY.get(organisation.kind, NOTHING)


def allowed_fields(user: Any) -> tuple[str, ...]:
    """Policy field names the person may see, in display order (empty: no facility data at all)."""
    policy = policy_for(user)
    return () if policy.scope is Scope.NONE else policy.fields


def allowed_columns(user: Any) -> tuple[str, ...]:
    """The Facility columns that may be selected for the person (allowed fields less related ones)."""
    return tuple(field for field in allowed_fields(user) if field not in RELATED_FIELDS)


def masks_for(user: Any) -> dict[str, Mask]:
    """The masks that apply to the person, by field: fields they see, on a role without the unmasking group."""
    policy = policy_for(user)
    fields = allowed_fields(user)
    return {mask.field: mask for mask in MASKS if mask.field in fields and mask.unless_group not in policy.groups}


def masked_expression(mask: Mask) -> Case:
    """The field as the masked reader sees it, computed by the database."""
    return Case(When(**{mask.when_field: mask.when_value}, then=Value(str(mask.text))), default=F(mask.field))


def masked_sql(mask: Mask, table: str) -> tuple[str, list[Any]]:
    """The same as SQL text over `table` (for COPY statements): identifiers from the model, values as parameters."""
    from certifications.models import facility_field

    column = facility_field(mask.field).column
    when = facility_field(mask.when_field).column
    return f'CASE WHEN {table}."{when}" = %s THEN %s ELSE {table}."{column}" END', [mask.when_value, str(mask.text)]


_MASKED_PREFIX = "masked__"


def visible_rows(queryset: QuerySet[Any], user: Any, names: tuple[str, ...], *, limit: int) -> list[dict[str, Any]]:
    """`queryset.values(*names)[:limit]` as the person may see them: masked fields come from the database
    already masked (under their own names), so the hidden value never reaches Python."""
    masks = masks_for(user)
    aliases = {f"{_MASKED_PREFIX}{name}": masked_expression(masks[name]) for name in names if name in masks}
    selected = [f"{_MASKED_PREFIX}{name}" if name in masks else name for name in names]
    rows = (
        list(queryset.annotate(**aliases).values(*selected)[:limit])
        if aliases
        else list(queryset.values(*names)[:limit])
    )
    if aliases:
        for row in rows:
            for alias in aliases:
                row[alias.removeprefix(_MASKED_PREFIX)] = row.pop(alias)
    return rows


def text_match(user: Any, field: str, text: str) -> Q:
    """Free-text condition on `field` that never matches a value the person sees masked."""
    condition = Q(**{f"{field}__icontains": text})
    mask = masks_for(user).get(field)
    if mask is not None:
        condition &= ~Q(**{mask.when_field: mask.when_value})
    return condition


class _EqualsAny(Func):
    """`value = ANY(array)`: Django has no expression for it (`__in` with a subquery becomes a semi-join)."""

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any, *args: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        value, array = (compiler.compile(expression) for expression in self.get_source_expressions())
        return f"{value[0]} = ANY({array[0]})", (*value[1], *array[1])


def scope_filter(user: Any) -> Q | None:
    """The Q that limits Facility rows to the person's scope, or None when they may see no facility."""
    from certifications.models import FacilitySite

    policy = policy_for(user)
    organisation = getattr(user, "organisation", None)
    if policy.scope is Scope.ALL:
        return Q()
    if organisation is None:
        return None
    if policy.scope is Scope.AREA:
        return Q(supply_area=organisation.supply_area) if organisation.supply_area else None
    if policy.scope is Scope.OWN:
        return Q(organisation_id=organisation.pk)
    if policy.scope is Scope.JURISDICTION:
        code = organisation.jurisdiction_code
        if len(code) == 6 and code.isdigit():
            # The municipality's facilities as one array read from the sites index, then fetched by key and
            # sorted: a municipality holds a few thousand at most. As a per-row EXISTS the planner, once it
            # had statistics, walked the whole sort index probing the sites of each facility instead
            # (300-400 ms a page at 3,500,000 facilities; bench/facilities.py); the array's size is unknown
            # to it, so it keeps to the key lookups.
            sites = FacilitySite.objects.filter(municipality_code=code).order_by().values("facility_id")
            return Q(_EqualsAny(F("pk"), ArraySubquery(sites)))
        if len(code) == 2 and code.isdigit():
            return Q(Exists(FacilitySite.objects.filter(facility=OuterRef("pk"), prefecture_code=code)))
        return None
    if policy.scope is Scope.REGION:
        codes = organisation.bureau_prefecture_codes()
        if not codes:
            return None
        return Q(Exists(FacilitySite.objects.filter(facility=OuterRef("pk"), prefecture_code__in=codes)))
    return None


def matrix() -> list[tuple[FieldGroup, dict[str, bool]]]:
    """Rows of the rendered matrix: each group and, per role, whether it is visible."""
    return [(group, {kind: group.key in POLICY[kind].groups for kind in POLICY}) for group in GROUPS]
