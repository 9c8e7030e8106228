"""The fixed cast shared by the suite: one person per role and area, plus outsiders who must see nothing.

Service policy: tests marked `postgres` or `redis` need the real service. Outside CI they are skipped
when it is not reachable; under CI the test settings refuse to start without them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.conf import settings

from accounts.models import AccountStatus, Organisation, OrganisationKind, User
from renergy.geography import SupplyArea


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_pg = pytest.mark.skip(reason="PostgreSQL not reachable (outside CI only)")
    skip_redis = pytest.mark.skip(reason="Redis not reachable (outside CI only)")
    for item in items:
        if "postgres" in item.keywords and not settings.USES_POSTGRES:
            item.add_marker(skip_pg)
        if "redis" in item.keywords and not settings.REDIS_URL:
            item.add_marker(skip_redis)


@dataclass
class Cast:
    agency: Organisation
    bureau: Organisation
    designated: Organisation
    contractor: Organisation
    grid_tokyo: Organisation
    grid_kansai: Organisation
    tokyo_metro: Organisation  # local government, prefecture 13
    shinjuku: Organisation  # local government, municipality 131041
    operator_a: Organisation
    operator_b: Organisation


@pytest.fixture
def orgs(db: None) -> Cast:
    def org(name: str, kind: str, **extra: str) -> Organisation:
        return Organisation.objects.create(name=name, kind=kind, **extra)

    return Cast(
        agency=org("資源エネルギー庁", OrganisationKind.AGENCY),
        bureau=org("関東経済産業局", OrganisationKind.BUREAU),
        designated=org("電力広域的運営推進機関", OrganisationKind.DESIGNATED),
        contractor=org("委託先システム管理者", OrganisationKind.CONTRACTOR),
        grid_tokyo=org("東京電力パワーグリッド", OrganisationKind.GRID, supply_area=SupplyArea.TOKYO),
        grid_kansai=org("関西電力送配電", OrganisationKind.GRID, supply_area=SupplyArea.KANSAI),
        tokyo_metro=org("東京都", OrganisationKind.LOCAL_GOV, jurisdiction_code="13"),
        shinjuku=org("新宿区", OrganisationKind.LOCAL_GOV, jurisdiction_code="131041"),
        operator_a=org("株式会社サンプル太陽光", OrganisationKind.OPERATOR),
        operator_b=org("合同会社ほかの発電", OrganisationKind.OPERATOR),
    )


@pytest.fixture
def make_user(db: None):
    """Create an ACTIVE person in an organisation (no device, no consent: see the signed-in helpers)."""
    counter = {"n": 0}

    def _make(
        organisation: Organisation, *, officer: bool = False, status: str = AccountStatus.ACTIVE, **extra
    ) -> User:
        counter["n"] += 1
        fields = {
            "name": f"テスト 利用者{counter['n']}",
            "organisation": organisation,
            "is_officer": officer,
            "status": status,
            "emergency_phone": "03-0000-0000" if officer else "",
        }
        fields.update(extra)
        return User.objects.create_user(
            f"user{counter['n']}@{organisation.pk}.example.jp", "correct horse battery staple", **fields
        )

    return _make


# --- accounts: a fully signed-in test client (verified TOTP device + current terms accepted) -------------
@pytest.fixture
def signed_in_client(db: None):
    """Callable: user -> django.test.Client signed in like after password + TOTP + consent (accounts.testing)."""
    from accounts.testing import signed_in_client

    return signed_in_client


# --- end accounts ---------------------------------------------------------------------------------------
