"""Organisations and the people in them: one account per person, never per company."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime, time
from typing import TYPE_CHECKING

import jpholiday
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_otp.plugins.otp_static.models import StaticDevice

from renergy.geography import JST, BureauRegion, SupplyArea, bureau_prefectures


class OrganisationKind(models.TextChoices):
    """What an organisation is; a person's role is their organisation's kind.

    Retail electricity companies (みなし小売電気事業者) have no kind on purpose: they cannot be
    organisations here, so they can never hold accounts.
    """

    AGENCY = "agency", _("資源エネルギー庁")
    BUREAU = "bureau", _("経済産業局")
    DESIGNATED = "designated", _("指定機関（代行申請機関・広域機関）")
    CONTRACTOR = "contractor", _("システム管理者（委託先）")
    GRID = "grid", _("一般送配電事業者")
    LOCAL_GOV = "local_gov", _("地方自治体・関係省庁")
    OPERATOR = "operator", _("認定事業者・代行登録者")


class SecondFactorPolicy(models.TextChoices):
    """Which second factors an organisation's people may sign in with (set by the administrator)."""

    ANY = "any", _("認証アプリまたはセキュリティキー")
    # A TOTP secret can be copied to any number of phones and a code read out to anyone; a security key
    # or passkey answers only the site it was made for, on the device that holds it.
    WEBAUTHN = "webauthn", _("セキュリティキー必須")


# ISO weekdays as the allowed-hours setting stores them.
WEEKDAYS = [
    (1, pgettext_lazy("weekday", "月")),
    (2, pgettext_lazy("weekday", "火")),
    (3, pgettext_lazy("weekday", "水")),
    (4, pgettext_lazy("weekday", "木")),
    (5, pgettext_lazy("weekday", "金")),
    (6, pgettext_lazy("weekday", "土")),
    (7, pgettext_lazy("weekday", "日")),
]


class BureauScope(models.TextChoices):
    """Which facilities a regional bureau sees, as the agency decides for each bureau."""

    ALL = "all", _("全設備")
    REGION = "region", _("自局の管轄府県のみ")


class Organisation(models.Model):
    """An organisation whose people may hold accounts, with what bounds their data scope."""

    name = models.CharField(_("名称"), max_length=200, unique=True)
    kind = models.CharField(_("種別"), max_length=20, choices=OrganisationKind.choices)
    supply_area = models.CharField(
        _("供給区域"), max_length=20, choices=SupplyArea.choices, blank=True, help_text=_("一般送配電事業者のみ")
    )
    jurisdiction_code = models.CharField(
        _("管轄地域コード"),
        max_length=6,
        blank=True,
        help_text=_("地方自治体のみ: 都道府県コード（2桁）または全国地方公共団体コード（6桁）"),
    )
    ip_ranges = models.TextField(
        _("登録IPアドレス範囲"), blank=True, help_text=_("CIDR表記で1行に1つ。空欄なら制限なし。")
    )
    is_active = models.BooleanField(_("有効"), default=True)
    created_at = models.DateTimeField(_("登録日時"), default=timezone.now)
    # Changed only through accounts.lifecycle.organisation_second_factor_policy_set (it records the event).
    second_factor_policy = models.CharField(
        _("二要素認証の方針"), max_length=20, choices=SecondFactorPolicy.choices, default=SecondFactorPolicy.ANY
    )
    webauthn_device_bound_only = models.BooleanField(
        _("端末に固定されたキーのみ"),
        default=False,
        help_text=_("同期パスキー（クラウド経由で他の端末に複製できるもの）を認めない"),
    )
    # Governance settings, changed only through accounts.use_policy.organisation_use_policy_set (it records the
    # event). Per-use approval (都度承認): each use needs an officer's approval, for at most the minutes below.
    use_approval_required = models.BooleanField(_("都度承認"), default=False)
    use_approval_max_minutes = models.PositiveIntegerField(_("1回の承認で利用できる最長時間（分）"), default=480)
    # When per-use approval was last turned on: the self-inspection counts unapproved use from then on only.
    use_approval_since = models.DateTimeField(_("都度承認の開始日時"), null=True, blank=True)
    # Allowed hours (JST): off unless the organisation asks for them.
    allowed_hours_enabled = models.BooleanField(_("利用可能時間の制限"), default=False)
    allowed_weekdays = ArrayField(
        models.PositiveSmallIntegerField(), verbose_name=_("利用可能な曜日"), default=list, blank=True
    )  # ISO weekdays, 1 = Monday … 7 = Sunday
    allowed_from = models.TimeField(_("利用可能時間（開始）"), default=time(8, 0))
    allowed_until = models.TimeField(_("利用可能時間（終了）"), default=time(20, 0))
    allowed_exclude_holidays = models.BooleanField(_("祝日は利用不可"), default=True)
    # Off by default (NIST SP 800-63B 5.1.1.2: no periodic change); some organisations' rules ask for one.
    # Changed only through accounts.lifecycle.organisation_password_max_age_set.
    password_max_age_days = models.PositiveIntegerField(
        _("パスワードの有効期間（日）"), default=0, help_text=_("0なら期限なし（推奨）")
    )
    # A bureau's data scope: changed only through accounts.lifecycle.organisation_rights_change.
    bureau_region = models.CharField(
        _("経済産業局の管轄"), max_length=20, choices=BureauRegion.choices, blank=True, help_text=_("経済産業局のみ")
    )
    bureau_scope = models.CharField(
        _("経済産業局が閲覧できる設備"), max_length=20, choices=BureauScope.choices, default=BureauScope.ALL
    )

    class Meta:
        verbose_name = _("組織")
        verbose_name_plural = _("組織")
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(
                name="grid_operator_has_supply_area",
                condition=~Q(kind=OrganisationKind.GRID) | ~Q(supply_area=""),
            ),
            models.CheckConstraint(
                name="only_grid_operator_has_supply_area",
                condition=Q(kind=OrganisationKind.GRID) | Q(supply_area=""),
            ),
            models.CheckConstraint(
                name="local_gov_has_jurisdiction",
                condition=~Q(kind=OrganisationKind.LOCAL_GOV) | Q(jurisdiction_code__regex=r"^([0-9]{2}|[0-9]{6})$"),
            ),
            models.CheckConstraint(
                name="only_bureau_has_bureau_region",
                condition=Q(kind=OrganisationKind.BUREAU) | Q(bureau_region="", bureau_scope=BureauScope.ALL),
            ),
            models.CheckConstraint(
                name="bureau_region_scope_has_region",
                condition=~Q(bureau_scope=BureauScope.REGION) | ~Q(bureau_region=""),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for line in self.ip_range_list():
            try:
                ipaddress.ip_network(line, strict=False)
            except ValueError:
                raise ValidationError(
                    {"ip_ranges": _("「%(line)s」はCIDR表記ではありません。") % {"line": line}}
                ) from None
        if self.bureau_scope == BureauScope.REGION and not self.bureau_region:
            raise ValidationError({"bureau_region": _("自局の管轄府県のみとするには管轄を選んでください。")})
        if self.kind != OrganisationKind.BUREAU and (self.bureau_region or self.bureau_scope != BureauScope.ALL):
            raise ValidationError({"bureau_region": _("経済産業局のみが管轄を持ちます。")})

    def bureau_prefecture_codes(self) -> tuple[str, ...]:
        """The prefectures of a bureau's region (empty for any other organisation or a bureau with no region)."""
        return bureau_prefectures(self.bureau_region) if self.kind == OrganisationKind.BUREAU else ()

    def ip_range_list(self) -> list[str]:
        return [line.strip() for line in self.ip_ranges.splitlines() if line.strip()]

    @property
    def requires_webauthn(self) -> bool:
        return self.second_factor_policy == SecondFactorPolicy.WEBAUTHN

    def accepts_webauthn_credential(self, *, backup_eligible: bool, backup_state: bool) -> bool:
        """A credential that can be (or is) backed up can be synced to other devices: refused when device-bound only."""
        return not (self.webauthn_device_bound_only and (backup_eligible or backup_state))

    def allowed_weekday_labels(self) -> str:
        labels = dict(WEEKDAYS)
        return "・".join(str(labels[day]) for day in sorted(self.allowed_weekdays) if day in labels)

    def allows_time(self, moment: datetime) -> bool:
        """True when the organisation restricts no hours, or `moment` falls on an allowed day and hour (JST)."""
        if not self.allowed_hours_enabled:
            return True
        local = moment.astimezone(JST)
        if local.isoweekday() not in self.allowed_weekdays:
            return False
        if self.allowed_exclude_holidays and jpholiday.is_holiday(local.date()):
            return False
        return self.allowed_from <= local.time().replace(tzinfo=None) < self.allowed_until

    def allows_ip(self, ip: str) -> bool:
        """True when no ranges are registered or the address falls in one of them."""
        ranges = self.ip_range_list()
        if not ranges:
            return True
        address = ipaddress.ip_address(ip)
        return any(address in ipaddress.ip_network(cidr, strict=False) for cidr in ranges)


class AccountStatus(models.TextChoices):
    INVITED = "invited", _("招待中")
    ACTIVE = "active", _("有効")
    SUSPENDED = "suspended", _("停止")
    RETIRED = "retired", _("廃止")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: object) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> User:
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)

    def managed_by(self, actor: User) -> models.QuerySet[User]:
        """The people `actor` may see and act on: everyone for the system administrator, the officer's own
        organisation for an officer, nobody for anyone else (the lifecycle services check the same rule on
        every write). Every read of people on someone's behalf starts here (tests/test_chokepoints.py)."""
        people = self.get_queryset()
        if actor.status != AccountStatus.ACTIVE:
            return people.none()
        if actor.is_system_admin:
            return people
        if actor.is_officer:
            return people.filter(organisation_id=actor.organisation_id)
        return people.none()


class User(AbstractBaseUser, PermissionsMixin):
    """One natural person. The account is never shared, reused or reissued.

    The role is the organisation's kind; `is_officer` adds the right to request, suspend and
    review accounts of the person's own organisation only.
    """

    email = models.EmailField(_("メールアドレス"), max_length=254, unique=True)
    name = models.CharField(_("氏名"), max_length=100)
    organisation = models.ForeignKey(
        Organisation, verbose_name=_("組織"), on_delete=models.PROTECT, related_name="members"
    )
    department = models.CharField(_("部署"), max_length=200, blank=True)
    title = models.CharField(_("役職"), max_length=100, blank=True)
    emergency_phone = models.CharField(_("緊急連絡先電話番号"), max_length=30, blank=True)
    is_officer = models.BooleanField(_("システム利用責任者"), default=False)
    status = models.CharField(
        _("状態"), max_length=20, choices=AccountStatus.choices, default=AccountStatus.INVITED, db_index=True
    )
    is_staff = models.BooleanField(_("管理サイト利用"), default=False)
    date_joined = models.DateTimeField(_("発行日時"), default=timezone.now)
    activated_at = models.DateTimeField(_("利用開始日時"), null=True, blank=True)
    last_activity_at = models.DateTimeField(_("最終利用日時"), null=True, blank=True)
    status_changed_at = models.DateTimeField(_("状態変更日時"), default=timezone.now)
    status_reason = models.CharField(_("状態変更理由"), max_length=500, blank=True)
    password_changed_at = models.DateTimeField(_("パスワード変更日時"), null=True, blank=True)
    # Set by an officer (on transfer) or the administrator; until the person changes the password, the gate
    # leads every page to the password change (accounts.passwords.password_change_due).
    password_change_required = models.BooleanField(_("パスワード変更が必要"), default=False)
    # Set when the 14-day idle warning went out; a newer activity makes the person eligible again.
    idle_warning_sent_at = models.DateTimeField(_("停止予告送信日時"), null=True, blank=True)
    # Part of the session auth hash: rotating it ends every session of the person on every node.
    security_stamp = models.UUIDField(default=uuid.uuid4, editable=False)

    objects = UserManager()

    if TYPE_CHECKING:
        # Set on the request's user by django_otp's OTPMiddleware: whether this session passed a second factor.
        def is_verified(self) -> bool: ...

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = _("利用者")
        verbose_name_plural = _("利用者")
        ordering = ["organisation", "name"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
            models.CheckConstraint(
                name="officer_has_emergency_phone", condition=Q(is_officer=False) | ~Q(emergency_phone="")
            ),
        ]
        indexes = [
            # Serves the daily idle-suspension sweep over active accounts.
            models.Index(fields=["status", "last_activity_at"], name="user_status_activity_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    @property
    def role(self) -> str:
        return self.organisation.kind

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        # Django's auth refuses login for inactive users; only ACTIVE and INVITED (mid-onboarding) may sign in.
        return self.status in (AccountStatus.ACTIVE, AccountStatus.INVITED)

    @property
    def is_system_admin(self) -> bool:
        return self.organisation.kind == OrganisationKind.CONTRACTOR

    def get_session_auth_hash(self) -> str:
        from django.utils.crypto import salted_hmac

        return salted_hmac(
            "renergy.accounts.User.get_session_auth_hash",
            f"{self.password}|{self.security_stamp}|{self.status}",
            algorithm="sha256",
        ).hexdigest()


class AccountRequestKind(models.TextChoices):
    NEW = "new", _("新規発行")
    REACTIVATION = "reactivation", _("利用再開")


class AccountRequestStatus(models.TextChoices):
    PENDING = "pending", _("審査待ち")
    APPROVED = "approved", _("承認")
    REJECTED = "rejected", _("却下")


class AccountRequest(models.Model):
    """An officer's request for a new account or for reactivating a suspended one, decided by the administrator."""

    kind = models.CharField(_("種別"), max_length=20, choices=AccountRequestKind.choices)
    status = models.CharField(
        _("状態"), max_length=20, choices=AccountRequestStatus.choices, default=AccountRequestStatus.PENDING
    )
    organisation = models.ForeignKey(Organisation, verbose_name=_("組織"), on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        User, verbose_name=_("申請者"), on_delete=models.PROTECT, related_name="account_requests_made"
    )
    requested_at = models.DateTimeField(_("申請日時"), default=timezone.now)
    reason = models.CharField(_("申請理由"), max_length=500, blank=True)
    # The person's registered attributes (new accounts); reactivation points at the existing account.
    email = models.EmailField(_("メールアドレス"), max_length=254, blank=True)
    name = models.CharField(_("氏名"), max_length=100, blank=True)
    department = models.CharField(_("部署"), max_length=200, blank=True)
    title = models.CharField(_("役職"), max_length=100, blank=True)
    is_officer = models.BooleanField(_("システム利用責任者"), default=False)
    emergency_phone = models.CharField(_("緊急連絡先電話番号"), max_length=30, blank=True)
    target_user = models.ForeignKey(
        User, verbose_name=_("対象利用者"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        User, verbose_name=_("審査者"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("審査日時"), null=True, blank=True)
    decision_reason = models.CharField(_("審査理由"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("アカウント申請")
        verbose_name_plural = _("アカウント申請")
        ordering = ["-requested_at"]
        constraints = [
            # One open request per address and organisation. Not across organisations: refusing a second one there
            # would tell an officer that another organisation asked for the address. Two accounts still cannot
            # come of it: approval checks the address under lock and User.email is unique.
            models.UniqueConstraint(
                Lower("email"),
                "organisation",
                condition=Q(status="pending", kind="new"),
                name="account_request_one_pending_per_email",
            ),
            models.UniqueConstraint(
                "target_user",
                condition=Q(status="pending", kind="reactivation"),
                name="account_request_one_pending_reactivation",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="account_request_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.email or self.target_user_id} ({self.get_status_display()})"


class ActivationLink(models.Model):
    """A one-time, expiring link to the registered address. Only the SHA-256 of the token is stored."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="activation_links")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("有効化リンク")
        verbose_name_plural = _("有効化リンク")

    def __str__(self) -> str:
        return f"activation link {self.pk} for user {self.user_id}"

    def is_usable(self) -> bool:
        return self.used_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class TermsVersion(models.Model):
    """One published version of the terms of use; the newest published one must be accepted to use the system."""

    # A draft has neither a version nor a publication time: accounts.terms.terms_publish gives it the next
    # version and the time it takes effect. A published version is never changed (people accepted it).
    version = models.PositiveIntegerField(_("版"), unique=True, null=True, blank=True)
    title = models.CharField(_("表題"), max_length=200)
    body_ja = models.TextField(_("本文（日本語）"))
    body_en = models.TextField(_("本文（英語）"), blank=True)
    published_at = models.DateTimeField(_("施行日時"), default=timezone.now, null=True, blank=True)
    created_at = models.DateTimeField(_("登録日時"), default=timezone.now)

    class Meta:
        verbose_name = _("利用規約")
        verbose_name_plural = _("利用規約")
        ordering = ["-version"]
        constraints = [
            models.CheckConstraint(
                name="terms_published_has_version",
                condition=Q(published_at__isnull=True) | Q(version__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})" if self.version else f"{self.title} (draft {self.pk})"

    @property
    def is_draft(self) -> bool:
        return self.published_at is None


class TermsAcceptance(models.Model):
    """That a person accepted a terms version, when and from where. Kept forever: never deleted with anyone."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="terms_acceptances")
    terms = models.ForeignKey(TermsVersion, on_delete=models.PROTECT, related_name="acceptances")
    accepted_at = models.DateTimeField(default=timezone.now)
    ip_address = models.GenericIPAddressField()

    class Meta:
        verbose_name = _("利用規約への同意")
        verbose_name_plural = _("利用規約への同意")
        constraints = [models.UniqueConstraint(fields=["user", "terms"], name="terms_accepted_once")]

    def __str__(self) -> str:
        return f"user {self.user_id} accepted v{self.terms_id}"


class UseRequestStatus(models.TextChoices):
    PENDING = "pending", _("承認待ち")
    APPROVED = "approved", _("承認")
    REFUSED = "refused", _("却下")


class UseRequest(models.Model):
    """A person's request to use the system once (都度承認), decided by another officer of their organisation.

    Approval opens the window [window_start, window_end); outside every approved window a person of an
    organisation that requires per-use approval can do nothing but ask (accounts.middleware)."""

    user = models.ForeignKey(User, verbose_name=_("申請者"), on_delete=models.PROTECT, related_name="use_requests")
    organisation = models.ForeignKey(Organisation, verbose_name=_("組織"), on_delete=models.PROTECT, related_name="+")
    purpose = models.CharField(_("利用目的"), max_length=500)
    minutes = models.PositiveIntegerField(_("利用時間（分）"))
    status = models.CharField(
        _("状態"), max_length=10, choices=UseRequestStatus.choices, default=UseRequestStatus.PENDING
    )
    requested_at = models.DateTimeField(_("申請日時"), default=timezone.now)
    decided_by = models.ForeignKey(
        User, verbose_name=_("承認者"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("審査日時"), null=True, blank=True)
    decision_reason = models.CharField(_("却下理由"), max_length=500, blank=True)
    window_start = models.DateTimeField(_("利用開始"), null=True, blank=True)
    window_end = models.DateTimeField(_("利用終了"), null=True, blank=True)

    class Meta:
        verbose_name = _("利用申請（都度承認）")
        verbose_name_plural = _("利用申請（都度承認）")
        ordering = ["-requested_at"]
        constraints = [
            # One open request per person: a second one would only queue the same question twice.
            models.UniqueConstraint("user", condition=Q(status="pending"), name="use_request_one_pending"),
            models.CheckConstraint(
                name="use_request_approved_has_window",
                condition=~Q(status="approved") | Q(window_start__isnull=False, window_end__isnull=False),
            ),
            models.CheckConstraint(
                name="use_request_not_decided_by_requester", condition=~Q(decided_by=models.F("user"))
            ),
        ]
        indexes = [
            # Serves the gate's "is there a current window" lookup on every request of such a person.
            models.Index(fields=["user", "window_end"], name="use_request_window_idx", condition=Q(status="approved")),
            # Serves the officer console's queue.
            models.Index(fields=["organisation", "status"], name="use_request_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"use request {self.pk} of user {self.user_id} ({self.status})"


class UserSession(models.Model):
    """A signed-in session as the person sees it (sign-in history, sign out elsewhere).

    Holds a hash of the session key, never the key itself: this table must not be a session-theft list.
    """

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="sessions")
    session_key_hash = models.CharField(max_length=64, db_index=True)
    ip_address = models.GenericIPAddressField()
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=50, blank=True)

    class Meta:
        verbose_name = _("セッション")
        verbose_name_plural = _("セッション")
        indexes = [
            # Serves "my sign-ins" and "my active sessions" on the home and account pages.
            models.Index(fields=["user", "-created_at"], name="user_session_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"session {self.pk} of user {self.user_id}"


def recovery_code_normalise(code: str) -> str:
    """What a person types, without spaces, hyphens or capitals (codes are shown as xxxx-xxxx-xxxx-xxxx)."""
    return "".join(ch for ch in (code or "").lower() if ch not in " \t\r\n-")


class RecoveryCode(models.Model):
    """One recovery code, kept only as a hash by Django's password hashers (the code is shown once, at issue).

    `selector` is the code's first four characters: it finds the one row to check, so a sign-in costs one
    hash check, not ten. The remaining characters (12 of an alphabet of 31, about 59 bits) stay secret.
    """

    device = models.ForeignKey(StaticDevice, on_delete=models.CASCADE, related_name="recovery_codes")
    selector = models.CharField(max_length=4)
    code_hash = models.CharField(max_length=128)

    class Meta:
        verbose_name = _("リカバリーコード")
        verbose_name_plural = _("リカバリーコード")
        indexes = [models.Index(fields=["device", "selector"], name="recovery_code_selector_idx")]

    def __str__(self) -> str:
        return f"recovery code of device {self.device_id}"


class RecoveryCodeDevice(StaticDevice):
    """django-otp's static device whose codes are the hashed RecoveryCode rows (never its plain StaticTokens)."""

    class Meta:
        proxy = True

    def verify_token(self, token: str) -> bool:
        # As django-otp's StaticDevice.verify_token (throttling, one use), with a hash check in place of equality.
        allowed, _details = self.verify_is_allowed()
        if not allowed:
            return False
        code = recovery_code_normalise(token)
        for row in self.recovery_codes.filter(selector=code[:4]):
            if check_password(code, row.code_hash):
                row.delete()
                self.throttle_reset(commit=False)
                self.set_last_used_timestamp(commit=False)
                self.save()
                return True
        self.throttle_increment()
        return False


class OutboundEmailStatus(models.TextChoices):
    PENDING = "pending", _("送信待ち")
    SENDING = "sending", _("送信中")
    SENT = "sent", _("送信済み")
    FAILED = "failed", _("送信失敗")


class OutboundEmail(models.Model):
    """One notification e-mail (the outbox): written in the transaction of the change that causes it, sent
    afterwards by a worker (accounts/outbox.py), so an SMTP outage delays mail but never loses it.

    pending → sending (claimed, committed before SMTP is spoken) → sent, or back to pending with a backoff,
    or failed after the last attempt or when a send was interrupted: a message is never sent twice.
    """

    created_at = models.DateTimeField(_("登録日時"), default=timezone.now)
    kind = models.CharField(_("種類"), max_length=30)
    # No index and no constraint: nothing looks mail up by person, and accounts are never deleted; each would
    # cost the bulk idle suspension a lookup per e-mail.
    user = models.ForeignKey(
        User,
        verbose_name=_("宛先の利用者"),
        on_delete=models.DO_NOTHING,
        null=True,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    recipient = models.EmailField(_("宛先"))
    subject = models.CharField(_("件名"), max_length=200)
    # Template context (the person's name is read at sending); holds a one-time link until the mail is sent,
    # then it is emptied.
    context = models.JSONField(_("内容"), default=dict, blank=True)
    status = models.CharField(
        _("状態"), max_length=10, choices=OutboundEmailStatus.choices, default=OutboundEmailStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("試行回数"), default=0)
    next_attempt_at = models.DateTimeField(_("次回送信"), default=timezone.now)
    claimed_at = models.DateTimeField(_("送信開始"), null=True, blank=True)
    sent_at = models.DateTimeField(_("送信日時"), null=True, blank=True)
    last_error = models.CharField(_("最後のエラー"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("送信メール")
        verbose_name_plural = _("送信メール")
        indexes = [
            # Serves the sender's "what is due" scan and the console's unsent list: sent mail is most rows.
            models.Index(
                fields=["next_attempt_at"], name="outbox_due_idx", condition=~Q(status=OutboundEmailStatus.SENT)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} to user {self.user_id} ({self.status})"


class WebAuthnCredentialUse(models.Model):
    """The addresses a security key or passkey signed in from, so a sign-in from a new one is recorded."""

    credential = models.ForeignKey(
        "django_otp_webauthn.WebAuthnCredential", on_delete=models.CASCADE, related_name="uses"
    )
    ip_address = models.GenericIPAddressField()
    first_used_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("セキュリティキーの利用元")
        verbose_name_plural = _("セキュリティキーの利用元")
        constraints = [models.UniqueConstraint(fields=["credential", "ip_address"], name="webauthn_use_once_per_ip")]

    def __str__(self) -> str:
        return f"credential {self.credential_id} from {self.ip_address}"


class AccessReview(models.Model):
    """One round of the periodic access review (アカウント棚卸し) of one organisation: its officers confirm,
    person by person, who still needs access; whoever is still unconfirmed at the deadline is suspended
    (accounts.access_review). One round per organisation and period start, so a repeated opening adds nothing."""

    organisation = models.ForeignKey(
        Organisation, verbose_name=_("組織"), on_delete=models.PROTECT, related_name="access_reviews"
    )
    round_start = models.DateField(_("対象期の開始日"))
    opened_at = models.DateTimeField(_("開始日時"), default=timezone.now)
    deadline = models.DateTimeField(_("確認期限"))
    reminded_at = models.DateTimeField(_("督促日時"), null=True, blank=True)
    closed_at = models.DateTimeField(_("締切処理日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("アカウント棚卸し")
        verbose_name_plural = _("アカウント棚卸し")
        ordering = ["-round_start", "organisation"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "round_start"], name="access_review_one_per_round")
        ]
        indexes = [
            # Serves the daily sweep's "open rounds past their deadline (or their reminder day)".
            models.Index(fields=["deadline"], condition=Q(closed_at__isnull=True), name="access_review_open_idx")
        ]

    def __str__(self) -> str:
        return f"{self.organisation} {self.round_start:%Y-%m}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class AccessReviewDecision(models.TextChoices):
    PENDING = "pending", _("未確認")
    CONFIRMED = "confirmed", _("継続利用を確認")
    REVOKED = "revoked", _("不要として停止")
    SUSPENDED = "suspended", _("期限までに未確認のため停止")
    GONE = "gone", _("期限前に停止・廃止済み")
    # The system administrators' own organisation: unconfirmed at the deadline, recorded, not suspended.
    LAPSED = "lapsed", _("期限までに未確認（停止の対象外）")


class AccessReviewItem(models.Model):
    """One person in one round: who decided what, and when."""

    review = models.ForeignKey(AccessReview, on_delete=models.PROTECT, related_name="items")
    user = models.ForeignKey(User, verbose_name=_("利用者"), on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(
        _("確認結果"), max_length=20, choices=AccessReviewDecision.choices, default=AccessReviewDecision.PENDING
    )
    decided_by = models.ForeignKey(
        User, verbose_name=_("確認者"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("確認日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("アカウント棚卸しの対象者")
        verbose_name_plural = _("アカウント棚卸しの対象者")
        ordering = ["review", "user__name"]
        constraints = [models.UniqueConstraint(fields=["review", "user"], name="access_review_item_once")]

    def __str__(self) -> str:
        return f"{self.review}: user {self.user_id} {self.decision}"
