"""Certified facilities (認定設備), their sites, import jobs and the per-account daily usage counter.

Nothing outside this app reads Facility directly: lists, pages, exports and any API go through
`Facility.objects.visible_to(user)` and the field sets in certifications/policy.py (see selectors.py).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from renergy.geography import PREFECTURE_CHOICES, SupplyArea

if TYPE_CHECKING:
    from accounts.models import User


class PowerSource(models.TextChoices):
    SOLAR = "solar", _("太陽光")
    WIND = "wind", _("風力")
    HYDRO = "hydro", _("水力")
    GEOTHERMAL = "geothermal", _("地熱")
    BIOMASS = "biomass", _("バイオマス")


class Scheme(models.TextChoices):
    FIT = "fit", "FIT"
    FIP = "fip", "FIP"


class FacilityStatus(models.TextChoices):
    CERTIFIED = "certified", _("認定")
    LAPSED = "lapsed", _("失効")
    ABOLISHED = "abolished", _("廃止")


class Wiring(models.TextChoices):
    FULL = "full", _("全量")
    SURPLUS = "surplus", _("余剰")


class InstallationForm(models.TextChoices):
    ROOFTOP = "rooftop", _("屋根置き")
    GROUND = "ground", _("地上設置")
    AGRIVOLTAIC = "agrivoltaic", _("営農型")
    FLOATING = "floating", _("水上設置")
    OTHER = "other", _("その他")


class OperatorKind(models.TextChoices):
    """Whether 事業者名 names a corporation (or public body) or a private person, whose name is personal data."""

    CORPORATION = "corporation", _("法人")
    INDIVIDUAL = "individual", _("個人")


class FacilityQuerySet(models.QuerySet["Facility"]):
    def visible_to(self, user: User | Any) -> FacilityQuerySet:
        """The facilities in the person's scope (certifications.policy); none for anyone without one."""
        from certifications.policy import scope_filter

        condition = scope_filter(user)
        return self.none() if condition is None else self.filter(condition)


# A 設備ID as the agency issues them: what the importer accepts and what a detail URL may name.
FACILITY_ID_PATTERN = re.compile(r"^[A-Z0-9]{6,20}$")


class Facility(models.Model):
    """One certified facility (認定設備) as in the agency's register; `facility_id` is its public key."""

    facility_id = models.CharField(_("設備ID"), max_length=20, unique=True)
    # certification plan (認定計画)
    operator_name = models.CharField(_("事業者名"), max_length=200)
    # Unknown counts as a private person (certifications/operators.py): a wrong guess then hides a company's
    # name, never shows a person's.
    operator_kind = models.CharField(
        _("法人・個人の別"), max_length=12, choices=OperatorKind.choices, default=OperatorKind.INDIVIDUAL
    )
    representative_name = models.CharField(_("設置者名（法人は代表者名）"), max_length=100, blank=True)
    operator_address = models.CharField(_("事業者住所"), max_length=300, blank=True)
    operator_phone = models.CharField(_("事業者電話番号"), max_length=30, blank=True)
    specified_corporation = models.BooleanField(_("規定法人該当性"), null=True, blank=True)
    application_date = models.DateField(_("申請年月日"), null=True, blank=True)
    certified_on = models.DateField(_("認定年月日（新規）"))
    change_certified_on = models.DateField(_("認定年月日（変更認定）"), null=True, blank=True)
    # generation business (発電事業)
    planned_operation_on = models.DateField(_("運転開始予定日"), null=True, blank=True)
    operation_start_on = models.DateField(_("運転開始年月日"), null=True, blank=True)
    operation_reported_month = models.DateField(_("運転開始報告年月"), null=True, blank=True)
    status = models.CharField(
        _("認定状況"), max_length=12, choices=FacilityStatus.choices, default=FacilityStatus.CERTIFIED
    )
    lapse_deadline = models.DateField(_("失効期限"), null=True, blank=True)
    procurement_price = models.DecimalField(
        _("調達価格（円/kWh）"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    procurement_end_month = models.DateField(_("調達期間満了年月"), null=True, blank=True)
    connection_contract_on = models.DateField(_("接続契約締結日"), null=True, blank=True)
    wiring = models.CharField(_("配線区分"), max_length=10, choices=Wiring.choices, blank=True)
    disposal_reserve_method = models.CharField(_("廃棄費用の積立方法"), max_length=100, blank=True)
    disposal_reserve_status = models.CharField(_("廃棄費用の積立状況"), max_length=100, blank=True)
    # facility (設備)
    power_source = models.CharField(_("電源種別"), max_length=12, choices=PowerSource.choices)
    capacity_kw = models.DecimalField(_("設備容量（kW）"), max_digits=12, decimal_places=3)
    plant_name = models.CharField(_("発電所名称"), max_length=200, blank=True)
    prefecture_code = models.CharField(_("都道府県"), max_length=2, choices=PREFECTURE_CHOICES)
    municipality_code = models.CharField(_("市区町村コード"), max_length=6)
    site_address = models.CharField(_("設置場所（代表住所）"), max_length=300)
    other_parcel_count = models.PositiveIntegerField(_("他の筆数"), default=0)
    panel_capacity_kw = models.DecimalField(
        _("太陽電池の合計出力（kW）"), max_digits=12, decimal_places=3, null=True, blank=True
    )
    panel_maker = models.CharField(_("パネルメーカー"), max_length=100, blank=True)
    panel_model = models.CharField(_("パネル型式"), max_length=100, blank=True)
    installation_form = models.CharField(_("設置形態"), max_length=12, choices=InstallationForm.choices, blank=True)
    self_sustained_operation = models.BooleanField(_("自立運転機能"), null=True, blank=True)
    power_outlet = models.BooleanField(_("給電用コンセント"), null=True, blank=True)
    # scheme (制度)
    scheme = models.CharField(_("FIT/FIP"), max_length=3, choices=Scheme.choices, default=Scheme.FIT)
    supply_area = models.CharField(_("供給区域"), max_length=10, choices=SupplyArea.choices)
    organisation = models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("認定事業者の組織"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="facilities",
    )
    created_at = models.DateTimeField(_("登録日時"), default=timezone.now)
    # Set by the importer only when a value really changed, so re-importing a file leaves rows untouched.
    updated_at = models.DateTimeField(_("更新日時"), default=timezone.now)

    objects = FacilityQuerySet.as_manager()

    class Meta:
        verbose_name = _("認定設備")
        verbose_name_plural = _("認定設備")
        # Keyset pagination orders by (sort column, facility_id); each index below has facility_id right after
        # the sort column so the page after a cursor is an index range scan, never a sort of the whole scope.
        # A list page is "scope + filters, ORDER BY sort, facility_id LIMIT 51": the scope or an equality filter
        # is the index's leading column and the sort follows it, so PostgreSQL walks the index in order and stops
        # after 51 rows (a descending sort walks it backwards). The two range filters (capacity, certification
        # date) are trailing key columns: the walk checks them in the index and fetches only matching rows from
        # the table ("grid, >= 1000 kW, sort by date" read 14,000 table rows for one page without them).
        # Small matches (a municipality, a rare source) are fetched whole and sorted.
        indexes = [
            # grid operators' scope (own supply area) and the supply-area filter, sorted by facility ID.
            models.Index(
                fields=["supply_area", "facility_id", "capacity_kw", "certified_on"], name="facility_area_id_idx"
            ),
            # the same sorted by capacity, and a capacity range inside an area.
            models.Index(
                fields=["supply_area", "capacity_kw", "facility_id", "certified_on"], name="facility_area_capacity_idx"
            ),
            # the same sorted by certification date, and a date range inside an area.
            models.Index(
                fields=["supply_area", "certified_on", "facility_id", "capacity_kw"], name="facility_area_certified_idx"
            ),
            # the prefecture filter and prefecture-level local governments' scope, sorted by facility ID.
            models.Index(
                fields=["prefecture_code", "facility_id", "capacity_kw", "certified_on"], name="facility_pref_id_idx"
            ),
            # the same sorted by capacity, and a capacity range inside a prefecture (pref=23 + 49.5–50 kW).
            models.Index(
                fields=["prefecture_code", "capacity_kw", "facility_id", "certified_on"],
                name="facility_pref_capacity_idx",
            ),
            # the same sorted by certification date, and a date range inside a prefecture.
            models.Index(
                fields=["prefecture_code", "certified_on", "facility_id", "capacity_kw"],
                name="facility_pref_certified_idx",
            ),
            # the municipality filter and municipal local governments' scope (a few thousand rows at most: the
            # planner fetches them whole and sorts, whatever the sort).
            models.Index(fields=["municipality_code", "facility_id"], name="facility_muni_id_idx"),
            # certified operators' scope (own facilities), sorted by facility ID; their usual filter, the
            # prefecture, is checked in the index too.
            models.Index(
                fields=["organisation", "facility_id", "capacity_kw", "certified_on", "prefecture_code"],
                name="facility_org_id_idx",
            ),
            # the same sorted by capacity (the largest operators own tens of thousands of facilities).
            models.Index(
                fields=["organisation", "capacity_kw", "facility_id", "certified_on", "prefecture_code"],
                name="facility_org_capacity_idx",
            ),
            # the same sorted by certification date.
            models.Index(
                fields=["organisation", "certified_on", "facility_id", "capacity_kw", "prefecture_code"],
                name="facility_org_certified_idx",
            ),
            # certification-date range filter and the sort by certification date for the agency (no scope).
            models.Index(fields=["certified_on", "facility_id"], name="facility_certified_id_idx"),
            # capacity range filter and the sort by capacity for the agency (no scope).
            models.Index(fields=["capacity_kw", "facility_id"], name="facility_capacity_id_idx"),
            # the power-source filter for the rare sources (99.9 % are solar). Partial: over every row, the
            # column's near-perfect physical correlation (almost all one value) made it look sequential to the
            # planner, which then walked it for "solar + area" and filtered 8 rows of 9 instead of walking the
            # area index.
            models.Index(
                fields=["power_source", "facility_id"],
                name="facility_source_id_idx",
                condition=~models.Q(power_source="solar"),
            ),
            # operation status / FIT-FIP filters combined with the area scope (lapsed ≈ 15 %, FIP is rare).
            models.Index(fields=["supply_area", "status", "scheme", "facility_id"], name="facility_area_status_idx"),
            # the FIP filter on its own (FIP is rare: without it, every FIP page scans the register). Partial for
            # the same reason as the source index: FIT is nearly every row.
            models.Index(
                fields=["scheme", "facility_id"], name="facility_scheme_id_idx", condition=models.Q(scheme="fip")
            ),
        ]
        # PostgreSQL only (migration 0002): trigram GIN indexes on UPPER(plant_name) and UPPER(operator_name)
        # serve the free-text search, which Django compiles to UPPER(col) LIKE UPPER('%text%').
        # PostgreSQL only (migration 0004): extended statistics on the correlated location columns (the
        # municipality fixes the prefecture, the prefecture fixes the supply area), so that "area=kansai +
        # pref=27" is estimated as the prefecture's rows, not as their product.

    def __str__(self) -> str:
        return self.facility_id


def facility_field(name: str) -> models.Field[Any, Any]:
    """A column of Facility by name: the policy and every output name columns, never relations."""
    field = Facility._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise LookupError(f"Facility.{name} is not a column")
    return field


# How a download joins all of a facility's 所在地 into one cell, and how the importer splits that cell again. The
# database keeps the joined text in certifications_facility.sites_text (migration 0008, its triggers).
SITE_SEPARATOR = " / "


class FacilitySite(models.Model):
    """One 所在地 of a facility; position 1 is the representative address (代表住所)."""

    facility = models.ForeignKey(Facility, on_delete=models.CASCADE, related_name="sites", verbose_name=_("認定設備"))
    position = models.PositiveSmallIntegerField(_("順番"))
    address = models.CharField(_("所在地"), max_length=300)
    prefecture_code = models.CharField(_("都道府県"), max_length=2, choices=PREFECTURE_CHOICES)
    municipality_code = models.CharField(_("市区町村コード"), max_length=6)

    class Meta:
        verbose_name = _("設備所在地")
        verbose_name_plural = _("設備所在地")
        ordering = ["facility", "position"]
        constraints = [models.UniqueConstraint(fields=["facility", "position"], name="facility_site_position_unique")]
        indexes = [
            # local governments' scope: a facility is in a municipality's jurisdiction if any of its sites is.
            models.Index(fields=["municipality_code", "facility"], name="site_muni_facility_idx"),
            # prefecture-level local governments' scope, same rule.
            models.Index(fields=["prefecture_code", "facility"], name="site_pref_facility_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.facility_id}#{self.position}"


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("待機中")
    RUNNING = "running", _("取込中")
    SUCCEEDED = "succeeded", _("完了")
    FAILED = "failed", _("失敗")


class ImportJob(models.Model):
    """One upload of the agency's public facility list, imported by a Celery worker with progress."""

    file = models.FileField(_("ファイル"), upload_to="facility-imports/%Y/%m/")
    original_name = models.CharField(_("元のファイル名"), max_length=255)
    # The jobs of one upload (several files, or the members of one zip) share a batch and are listed together.
    batch = models.UUIDField(_("一括取込"), null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("登録者"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("登録日時"), default=timezone.now)
    started_at = models.DateTimeField(_("開始日時"), null=True, blank=True)
    finished_at = models.DateTimeField(_("終了日時"), null=True, blank=True)
    status = models.CharField(_("状態"), max_length=12, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    phase = models.CharField(_("段階"), max_length=20, blank=True)
    total_rows = models.PositiveIntegerField(_("総行数"), default=0)
    processed_rows = models.PositiveIntegerField(_("処理済み行数"), default=0)
    created_count = models.PositiveIntegerField(_("新規"), default=0)
    updated_count = models.PositiveIntegerField(_("更新"), default=0)
    unchanged_count = models.PositiveIntegerField(_("変更なし"), default=0)
    # [{"line": "認定設備!12", "reason": "..."}]: reasons name the column, never echo personal data.
    errors = models.JSONField(_("エラー"), default=list, blank=True)
    # Headings and sheets of the file that the importer does not know (their data was not imported).
    unrecognised = models.JSONField(_("取り込まなかった列"), default=list, blank=True)

    class Meta:
        verbose_name = _("取込ジョブ")
        verbose_name_plural = _("取込ジョブ")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class UsageKind(models.TextChoices):
    DETAIL = "detail", _("詳細表示")
    LIST_ROWS = "list_rows", _("一覧表示行数")
    EXPORT_ROWS = "export_rows", _("出力行数")


class DailyUsage(models.Model):
    """Per-account, per-day counters for the bulk-viewing guard, incremented atomically in the database
    (INSERT ... ON CONFLICT DO UPDATE ... RETURNING) so every node sees the same count."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    kind = models.CharField(max_length=12, choices=UsageKind.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("日次利用量")
        verbose_name_plural = _("日次利用量")
        constraints = [models.UniqueConstraint(fields=["user", "day", "kind"], name="daily_usage_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.day} {self.kind}={self.count}"
