"""The fixed cast shared by the suite: one organisation per role and area, plus outsiders who must see nothing;
the people in them (`make_user`, and the enrolled `person`, `administrator`, `officer_a`, `officer_b`); the
facilities are in tests/certifications/conftest.py.

The suite runs on the machine's PostgreSQL and Redis. The test database is created and migrated by the owner
(DATABASE_URL, a superuser); the application under test connects as the runtime role, granted exactly as in
production (audit.roles), so a missing grant fails a test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import connections
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import AccountStatus, BureauScope, Organisation, OrganisationKind, TermsAcceptance, User
from accounts.terms import terms_current
from renergy.geography import BureauRegion, SupplyArea
from tests.database import runtime_role_drop, runtime_role_grant, test_databases_as_owner


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_test_environment,
    django_db_blocker,
    django_db_keepdb,
    django_db_createdb,
    django_db_modify_db_settings,
):
    """pytest-django's setup, with the database created by the owner and the runtime role granted on it."""
    from django.test.utils import setup_databases, teardown_databases
    from pytest_django.fixtures import _get_databases_for_setup

    from renergy.databases import OWNER_ALIAS

    aliases, serialized_aliases = _get_databases_for_setup(request.session.items)
    keepdb = django_db_keepdb and not django_db_createdb
    with django_db_blocker.unblock():
        with test_databases_as_owner():
            db_cfg = setup_databases(
                verbosity=request.config.option.verbose,
                interactive=False,
                keepdb=keepdb,
                aliases={*aliases, OWNER_ALIAS},
                serialized_aliases=serialized_aliases,
            )
        runtime_role_grant()
    yield
    if not django_db_keepdb:
        with django_db_blocker.unblock(), test_databases_as_owner():
            connections.close_all()  # the owner's connection too, or the database cannot be dropped
            teardown_databases(db_cfg, verbosity=request.config.option.verbose)
            runtime_role_drop()


@dataclass
class Cast:
    agency: Organisation
    bureau: Organisation
    bureau_kinki: Organisation  # a regional bureau the agency confined to its own prefectures
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
        bureau_kinki=org(
            "近畿経済産業局", OrganisationKind.BUREAU, bureau_region=BureauRegion.KINKI, bureau_scope=BureauScope.REGION
        ),
        designated=org("電力広域的運営推進機関", OrganisationKind.DESIGNATED),
        contractor=org("委託先システム管理者", OrganisationKind.CONTRACTOR),
        grid_tokyo=org("東京電力パワーグリッド", OrganisationKind.GRID, supply_area=SupplyArea.TOKYO),
        grid_kansai=org("関西電力送配電", OrganisationKind.GRID, supply_area=SupplyArea.KANSAI),
        tokyo_metro=org("東京都", OrganisationKind.LOCAL_GOV, jurisdiction_code="13"),
        shinjuku=org("新宿区", OrganisationKind.LOCAL_GOV, jurisdiction_code="131041"),
        operator_a=org("株式会社サンプル太陽光", OrganisationKind.OPERATOR),
        operator_b=org("合同会社ほかの発電", OrganisationKind.OPERATOR),
    )


PASSWORD = "correct horse battery staple"


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
        return User.objects.create_user(f"user{counter['n']}@{organisation.pk}.example.jp", PASSWORD, **fields)

    return _make


def enrol(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def accept_terms(user: User) -> None:
    TermsAcceptance.objects.get_or_create(user=user, terms=terms_current(), defaults={"ip_address": "127.0.0.1"})


def ready(user: User) -> User:
    """Enrolled and consented: what a person is after finishing activation."""
    enrol(user)
    accept_terms(user)
    return user


@pytest.fixture
def person(orgs, make_user) -> User:
    """An ACTIVE operator with a confirmed authenticator who accepted the current terms."""
    return ready(make_user(orgs.operator_a))


@pytest.fixture
def administrator(orgs, make_user) -> User:
    return ready(make_user(orgs.contractor, is_staff=True))


@pytest.fixture
def officer_a(orgs, make_user) -> User:
    return ready(make_user(orgs.operator_a, officer=True))


@pytest.fixture
def officer_b(orgs, make_user) -> User:
    return ready(make_user(orgs.operator_b, officer=True))


# A fully signed-in test client (verified TOTP device + current terms accepted).
@pytest.fixture
def signed_in_client(db: None):
    """Callable: user -> django.test.Client signed in like after password + TOTP + consent (accounts.testing)."""
    from accounts.testing import signed_in_client

    return signed_in_client


# Test-only: the flush past the audit tables' TRUNCATE guards, and a fresh anchor store per test.
@pytest.fixture(autouse=True, scope="session")
def _flush_past_audit_guards() -> Iterator[None]:
    """Transactional and live-server tests end with a flush (TRUNCATE), which the audit tables refuse.

    Here only, the flush runs with triggers off (session_replication_role = replica, which needs the
    superuser connection the suite uses); production code has no path to it.
    """
    from django.db import transaction
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        with (
            transaction.atomic(using=self.connection.alias, savepoint=self.connection.features.can_rollback_ddl),
            self.connection.cursor() as cursor,
        ):
            cursor.execute("SET LOCAL session_replication_role = replica")
            for sql in sql_list:
                cursor.execute(sql)

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign,assignment]
    yield
    DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _anchor_store(settings, tmp_path) -> None:
    # Anchors outlive the database by design; a test's rolled-back seals must not meet the next test's.
    settings.AUDIT_ANCHOR_DIR = str(tmp_path / "anchors")


# --- end audit --------------------------------------------------------------------------------------------
