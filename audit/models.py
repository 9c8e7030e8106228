"""The audit trail: one access record per request, security events, the seals that chain them,
and the self-inspection (自己点検) that reads them.

Access records and security events are append-only three times over: the models refuse updates and
deletes, their querysets refuse bulk edits, and triggers refuse UPDATE, DELETE and TRUNCATE
(migrations 0001 and 0002; also on model history and consent records). People and organisations are
referenced by id without a database constraint, so the trail never blocks or cascades with the accounts it describes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Func, Q
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove an audit record."""


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit records are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit records are append-only")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnlyError("audit records are append-only")


class AuditTrailQuerySet(AppendOnlyQuerySet):
    def visible_to(self, user: Any) -> AuditTrailQuerySet:
        """The records a person may read: all for the system administrator, their own organisation's for an
        officer, none for anyone else. Every read of the trail on someone's behalf starts here
        (tests/test_chokepoints.py); the inspection, the report and the seals read it as the system itself."""
        from accounts.models import AccountStatus

        if getattr(user, "status", None) != AccountStatus.ACTIVE:
            return self.none()
        if user.is_system_admin:
            return self.all()
        if user.is_officer:
            return self.filter(organisation_id=user.organisation_id)
        return self.none()


class AppendOnlyModel(models.Model):
    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit records are append-only")


def _person_fk(verbose: StrOrPromise, *, db_index: bool = True) -> models.ForeignKey:
    # No database constraint: a record must be writable even for an account being created in the same
    # request, and must never be deleted or blocked through the account it names.
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=db_index,
        null=True,
        blank=True,
        related_name="+",
    )


def _organisation_fk(*, db_index: bool = True) -> models.ForeignKey:
    return models.ForeignKey(
        "accounts.Organisation",
        verbose_name=_("組織"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=db_index,
        null=True,
        blank=True,
        related_name="+",
    )


class AccessRecord(AppendOnlyModel):
    """One HTTP request, written by AccessRecordMiddleware before the response leaves.

    `at` is when the record was written (the end of the request; `duration_ms` gives its start), in UTC.
    On PostgreSQL the table is partitioned by month on `at` (primary key (id, at)); `id` alone stays
    unique because it comes from one sequence. The record never holds a password, token, TOTP code,
    session key, query-string value outside AUDIT_QUERY_VALUE_KEYS or facility personal data: only
    which facility IDs and which policy field names were disclosed.
    """

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(_("日時"))
    request_id = models.UUIDField(_("リクエストID"))
    user = _person_fk(_("利用者"))
    organisation = _organisation_fk()
    role = models.CharField(_("役割"), max_length=20, blank=True)
    session_hash = models.CharField(_("セッション（ハッシュ）"), max_length=64, blank=True)
    ip = models.GenericIPAddressField(_("IPアドレス"), null=True, blank=True)
    user_agent = models.CharField(_("ユーザーエージェント"), max_length=300, blank=True)
    method = models.CharField(_("メソッド"), max_length=10)
    path = models.CharField(_("パス"), max_length=500)
    query = models.CharField(_("クエリ"), max_length=500, blank=True)
    route = models.CharField(_("画面"), max_length=200, blank=True)
    status = models.SmallIntegerField(_("応答"))
    duration_ms = models.IntegerField(_("処理時間（ミリ秒）"))
    disclosure_kind = models.CharField(_("開示種別"), max_length=20, blank=True)
    facility_ids = models.JSONField(_("開示した設備ID"), null=True, blank=True)
    fields = models.JSONField(_("開示した項目"), null=True, blank=True)
    row_count = models.IntegerField(_("開示件数"), default=0)
    # 0: the request's record. 1, 2, …: a streamed export's later chunks, each committed before it leaves.
    part = models.IntegerField(_("分割番号"), default=0)
    record_hash = models.CharField(_("ハッシュ"), max_length=64)

    objects: ClassVar[models.Manager[Any]] = AuditTrailQuerySet.as_manager()

    class Meta:
        verbose_name = _("アクセス記録")
        verbose_name_plural = _("アクセス記録")
        ordering = ["-at", "-id"]
        # A BRIN index on `at` is added on PostgreSQL only (migration 0001): time-ordered appends make it tiny.
        indexes = [
            # Serves per-account history, the self-inspection baselines and "my organisation's log" for officers.
            models.Index(fields=["user", "at"], name="audit_access_user_at"),
            models.Index(fields=["organisation", "at"], name="audit_access_org_at"),
            # Serves the operators' accounting of disclosures (audit.disclosure_accounting): "records naming any
            # of these facility IDs" (`?|`). Partial: most requests disclose no facility. An export's record names
            # up to its whole ID list: at the 4 MB default the insert that filled the pending list merged it into
            # the index, inside a download (150 ms every two or three 60,000-row exports). The list may grow to
            # 64 MB (kB here) and the worker merges it every minute (audit.partitions.disclosure_index_merge).
            GinIndex(
                fields=["facility_ids"],
                name="audit_access_facility_ids",
                condition=Q(facility_ids__isnull=False),
                gin_pending_list_limit=65536,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status} ({self.request_id})"


class SecurityEvent(AppendOnlyModel):
    """Login, logout, failures, lockout, MFA, consent, account transitions, officer and administrator actions."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(_("日時"))
    action = models.CharField(_("操作"), max_length=100)
    request_id = models.UUIDField(_("リクエストID"), null=True, blank=True)
    # Single-column indexes here would repeat the (column, at) ones below: bulk events (the daily idle
    # suspension) pay for every index.
    actor = _person_fk(_("実行者"), db_index=False)
    target_user = _person_fk(_("対象利用者"), db_index=False)
    organisation = _organisation_fk(db_index=False)
    ip = models.GenericIPAddressField(_("IPアドレス"), null=True, blank=True)
    data = models.JSONField(_("詳細"), default=dict, blank=True)
    record_hash = models.CharField(_("ハッシュ"), max_length=64)

    objects: ClassVar[models.Manager[Any]] = AuditTrailQuerySet.as_manager()

    class Meta:
        verbose_name = _("セキュリティイベント")
        verbose_name_plural = _("セキュリティイベント")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["at"], name="audit_event_at"),
            # Serves the account-management sheet of the fiscal-year report and per-organisation views.
            models.Index(fields=["organisation", "at"], name="audit_event_org_at"),
            # Partial: the system's own events (no actor) and the bulk ones (no single target) skip them, and
            # `= id` implies IS NOT NULL, so lookups by person still use them.
            models.Index(fields=["actor", "at"], name="audit_event_actor_at", condition=Q(actor__isnull=False)),
            models.Index(
                fields=["target_user", "at"], name="audit_event_target_user_at", condition=Q(target_user__isnull=False)
            ),
            # Equality lookups by action only (the report's action__in): no LIKE index beside it.
            models.Index(fields=["action"], name="audit_event_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} ({self.at:%Y-%m-%d %H:%M})"

    @property
    def user_ids(self) -> list[int]:
        """The accounts the event is about: its target, or those a bulk event names (audit.events)."""
        named = self.data.get("user_ids") if isinstance(self.data, dict) else None
        if isinstance(named, list):
            return named
        return [self.target_user_id] if self.target_user_id else []


def event_accounts_count() -> Coalesce:
    """SQL for SecurityEvent.user_ids's length, as counted by the report: a bulk event counts each account it
    names, any other event one."""
    return Coalesce(
        Func(KeyTransform("user_ids", "data"), function="jsonb_array_length", output_field=models.IntegerField()),
        1,
    )


class SealStream(models.TextChoices):
    ACCESS = "access", _("アクセス記録")
    EVENT = "event", _("セキュリティイベント")


class AuditSeal(AppendOnlyModel):
    """The digest of one period of one stream, chained to the previous period's digest, and signed.

    `digest` = audit.hashing.seal_digest(previous digest, stream, bounds, count, sha256 of the records'
    "id:hash" lines in id order). `contents` holds the ids present at sealing as [first, last] runs and
    the first 8 hex digits of each record's hash, so verification can name the record that was removed,
    inserted or altered (even with its hash recomputed). Every seal is also copied to the anchor store.
    """

    stream = models.CharField(max_length=10, choices=SealStream.choices)
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    record_count = models.BigIntegerField()
    contents = models.JSONField(default=dict)
    previous_digest = models.CharField(max_length=64)
    digest = models.CharField(max_length=64)
    # Ed25519 over audit.hashing.signed_message(digest), by the key whose id is key_id (audit.signing).
    signature = models.CharField(max_length=128, blank=True)
    key_id = models.CharField(max_length=16, blank=True)
    sealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("監査記録の封印")
        verbose_name_plural = _("監査記録の封印")
        ordering = ["stream", "period_start"]
        constraints = [models.UniqueConstraint(fields=["stream", "period_start"], name="audit_seal_one_per_period")]

    def __str__(self) -> str:
        return f"{self.stream} {self.period_start:%Y-%m-%d %H:%M} ({self.record_count})"


class VerificationRun(AppendOnlyModel):
    """The outcome of one walk over a period (manage.py verify_audit or the scheduled check)."""

    ran_at = models.DateTimeField(default=timezone.now)
    period_from = models.DateTimeField()
    period_to = models.DateTimeField()
    ok = models.BooleanField()
    records_checked = models.BigIntegerField(default=0)
    # Records newer than the last sealable minute: present, but not yet covered by any seal.
    records_unsealed = models.BigIntegerField(default=0)
    # ok | failed | not_checked (no public key, no anchor store configured).
    signatures = models.CharField(max_length=12, default="not_checked")
    anchors = models.CharField(max_length=12, default="not_checked")
    problems = models.JSONField(default=list)

    class Meta:
        verbose_name = _("改ざん検証")
        verbose_name_plural = _("改ざん検証")
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        return f"verify {self.period_from:%Y-%m-%d}..{self.period_to:%Y-%m-%d}: {'ok' if self.ok else 'FAILED'}"


class InspectionRunStatus(models.TextChoices):
    QUEUED = "queued", _("待機中")
    RUNNING = "running", _("実行中")
    DONE = "done", _("完了")
    FAILED = "failed", _("失敗")


class InspectionRun(models.Model):
    """One self-inspection over a period; `progress` counts the checks done of `total_steps`."""

    period_start = models.DateTimeField(_("対象期間（開始）"))
    period_end = models.DateTimeField(_("対象期間（終了）"))
    label = models.CharField(_("名称"), max_length=100)
    status = models.CharField(
        _("状態"), max_length=10, choices=InspectionRunStatus.choices, default=InspectionRunStatus.QUEUED
    )
    progress = models.PositiveIntegerField(_("進捗"), default=0)
    total_steps = models.PositiveIntegerField(_("全工程"), default=0)
    requested_by = _person_fk(_("実行依頼者"))
    created_at = models.DateTimeField(_("登録日時"), default=timezone.now)
    finished_at = models.DateTimeField(_("完了日時"), null=True, blank=True)
    error = models.CharField(_("エラー"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("自己点検の実行")
        verbose_name_plural = _("自己点検の実行")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.label

    @property
    def percent(self) -> int:
        return int(100 * self.progress / self.total_steps) if self.total_steps else 0


class FindingKind(models.TextChoices):
    FREQUENCY = "frequency", _("アクセス頻度の急増")
    OFF_HOURS = "off_hours", _("業務時間外の利用")
    NEW_IP = "new_ip", _("初めてのIPアドレス")
    FOREIGN_IP = "foreign_ip", _("組織の登録範囲外のIPアドレス")
    CONCURRENT_IPS = "concurrent_ips", _("複数IPからの同時利用")
    BULK_VIEW = "bulk_view", _("大量閲覧・出力")
    DORMANT = "dormant", _("長期未利用（停止間近）")
    NEVER_USED = "never_used", _("発行後未利用")
    UNAPPROVED_USE = "unapproved_use", _("承認のない利用（都度承認）")
    NO_OFFICER = "no_officer", _("有効な責任者のいない組織")


class Severity(models.TextChoices):
    LOW = "low", _("低")
    MEDIUM = "medium", _("中")
    HIGH = "high", _("高")


class ReviewState(models.TextChoices):
    OPEN = "open", _("未確認")
    # The organisation's officer has answered; the administrator still reviews it.
    ANSWERED = "answered", _("組織が回答済み")
    EXPLAINED = "explained", _("説明済み")
    ESCALATED = "escalated", _("資源エネルギー庁へ報告")


class Finding(models.Model):
    """One thing the inspection noticed about an account (or an organisation), with the numbers behind it.

    One row per account (or organisation, for organisation-level kinds), kind and period: running the
    inspection of a period again updates the row (run, severity, numbers) and keeps its answers and reviews.
    """

    run = models.ForeignKey(InspectionRun, verbose_name=_("点検"), on_delete=models.PROTECT, related_name="findings")
    user = _person_fk(_("利用者"))
    organisation = _organisation_fk()
    kind = models.CharField(_("種別"), max_length=20, choices=FindingKind.choices)
    severity = models.CharField(_("重要度"), max_length=10, choices=Severity.choices)
    period_start = models.DateTimeField(_("対象期間（開始）"))
    period_end = models.DateTimeField(_("対象期間（終了）"))
    numbers = models.JSONField(_("根拠"), default=dict)
    review_state = models.CharField(_("確認状況"), max_length=10, choices=ReviewState.choices, default=ReviewState.OPEN)

    class Meta:
        verbose_name = _("点検結果")
        verbose_name_plural = _("点検結果")
        ordering = ["run", "-severity", "organisation", "user", "kind"]
        indexes = [models.Index(fields=["organisation", "review_state"], name="audit_finding_org_state")]
        constraints = [
            # The target of the inspection's upsert (audit.inspection, ON CONFLICT ON CONSTRAINT). NULLS NOT
            # DISTINCT: an organisation-level finding has no user and must still be unique.
            models.UniqueConstraint(
                fields=["user", "organisation", "kind", "period_start", "period_end"],
                name="audit_finding_one_per_subject_kind_period",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.user_id or self.organisation_id})"


class FindingReview(AppendOnlyModel):
    """A mark on a finding: the officer's answer for their organisation (state `answered`) or the contractor's
    review (explained, escalated). Each is a new row; the finding keeps the latest state."""

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="reviews")
    state = models.CharField(_("確認状況"), max_length=10, choices=ReviewState.choices)
    note = models.TextField(_("所見"))
    reviewed_by = _person_fk(_("確認者"))
    reviewed_at = models.DateTimeField(_("確認日時"), default=timezone.now)

    class Meta:
        verbose_name = _("点検結果の確認")
        verbose_name_plural = _("点検結果の確認")
        ordering = ["-reviewed_at"]

    def __str__(self) -> str:
        return f"{self.state} on finding {self.finding_id}"
