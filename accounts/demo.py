"""Demo cast for `make run`: organisations per role, one person and one officer each, fixed TOTP secrets.

Never for production: the secrets are derived from the e-mail address and printed (see DEMO_MODE).
"""

from __future__ import annotations

import hashlib
from base64 import b32encode
from binascii import unhexlify
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AccountStatus, Organisation, OrganisationKind, User
from renergy.geography import SupplyArea

DEMO_PASSWORD = "Renergy-demo-passphrase-2026"  # noqa: S105 - printed on purpose, demo only
DEMO_DOMAIN = "demo.renergy.example.jp"


@dataclass(frozen=True)
class DemoOrganisation:
    slug: str
    name: str
    kind: str
    supply_area: str = ""
    jurisdiction_code: str = ""


DEMO_ORGANISATIONS = [
    DemoOrganisation("agency", "資源エネルギー庁（デモ）", OrganisationKind.AGENCY),
    DemoOrganisation("bureau", "関東経済産業局（デモ）", OrganisationKind.BUREAU),
    DemoOrganisation("designated", "電力広域的運営推進機関（デモ）", OrganisationKind.DESIGNATED),
    DemoOrganisation("admin", "委託先システム管理者（デモ）", OrganisationKind.CONTRACTOR),
    DemoOrganisation("grid-tokyo", "東京電力パワーグリッド（デモ）", OrganisationKind.GRID, SupplyArea.TOKYO),
    DemoOrganisation("grid-kansai", "関西電力送配電（デモ）", OrganisationKind.GRID, SupplyArea.KANSAI),
    DemoOrganisation("localgov", "東京都（デモ）", OrganisationKind.LOCAL_GOV, jurisdiction_code="13"),
    DemoOrganisation("operator", "株式会社デモ太陽光発電", OrganisationKind.OPERATOR),
]


def demo_totp_key(email: str) -> str:
    """A fixed 20-byte secret per demo address (hex, as django-otp stores it)."""
    return hashlib.sha256(f"renergy-demo-totp:{email}".encode()).hexdigest()[:40]


def demo_totp_secret_base32(email: str) -> str:
    return b32encode(unhexlify(demo_totp_key(email))).decode()


@dataclass(frozen=True)
class DemoPerson:
    email: str
    name: str
    organisation: str
    role_label: str
    officer: bool
    created: bool


def _person(org: Organisation, email: str, name: str, *, officer: bool) -> tuple[User, bool]:
    user = User.objects.filter(email=email).first()
    created = user is None
    if user is None:
        now = timezone.now()
        user = User.objects.create_user(
            email,
            DEMO_PASSWORD,
            name=name,
            organisation=org,
            is_officer=officer,
            emergency_phone="03-0000-0000" if officer else "",
            department="デモ部",
            status=AccountStatus.ACTIVE,
            activated_at=now,
            last_activity_at=now,
            password_changed_at=now,
            is_staff=org.kind == OrganisationKind.CONTRACTOR,
        )
    key = demo_totp_key(email)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        TOTPDevice.objects.create(user=user, name="demo", key=key, confirmed=True)
    elif device.key != key:
        device.key = key
        device.last_t = -1
        device.save(update_fields=["key", "last_t"])
    return user, created


@transaction.atomic
def demo_cast_load() -> tuple[list[DemoPerson], Organisation]:
    people: list[DemoPerson] = []
    operator_org: Organisation | None = None
    for spec in DEMO_ORGANISATIONS:
        org, _created = Organisation.objects.get_or_create(
            name=spec.name,
            defaults={"kind": spec.kind, "supply_area": spec.supply_area, "jurisdiction_code": spec.jurisdiction_code},
        )
        if spec.kind == OrganisationKind.OPERATOR:
            operator_org = org
        label = org.get_kind_display()
        for officer in (False, True):
            email = f"{spec.slug}{'-officer' if officer else ''}@{DEMO_DOMAIN}"
            name = f"{'責任者' if officer else '担当'} {spec.slug}"
            user, created = _person(org, email, name, officer=officer)
            people.append(DemoPerson(user.email, user.name, org.name, str(label), officer, created))
    assert operator_org is not None
    return people, operator_org
