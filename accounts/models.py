"""Organisations and the people in them: one account per person, never per company."""

from __future__ import annotations

import ipaddress
import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from renergy.geography import SupplyArea


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
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        for line in self.ip_range_list():
            try:
                ipaddress.ip_network(line, strict=False)
            except ValueError:
                raise ValidationError({"ip_ranges": _("「%(line)s」はCIDR表記ではありません。") % {"line": line}}) from None

    def ip_range_list(self) -> list[str]:
        return [line.strip() for line in self.ip_ranges.splitlines() if line.strip()]

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
    # Part of the session auth hash: rotating it ends every session of the person on every node.
    security_stamp = models.UUIDField(default=uuid.uuid4, editable=False)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = _("利用者")
        verbose_name_plural = _("利用者")
        ordering = ["organisation", "name"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
            models.CheckConstraint(name="officer_has_emergency_phone", condition=Q(is_officer=False) | ~Q(emergency_phone="")),
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
