"""The runtime role (what web, worker and beat connect as) can read and append to the audit trail and
nothing more: every attempt below is made on the application's own connection and must be refused by
PostgreSQL itself, not by our models."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.db import connection, connections, transaction
from django.db.utils import ProgrammingError
from psycopg import errors

from audit.partitions import partition_name
from audit.roles import UPDATABLE_AUDIT_COLUMNS, audit_tables, runtime_privilege_problems
from renergy.databases import OWNER_ALIAS

pytestmark = pytest.mark.django_db

AUDIT_TABLES = audit_tables()


def _refused(statement: str) -> None:
    with pytest.raises(ProgrammingError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert isinstance(caught.value.__cause__, errors.InsufficientPrivilege), caught.value


def _a_column(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> ALL(%s) "
            "ORDER BY ordinal_position LIMIT 1",
            [table, list(UPDATABLE_AUDIT_COLUMNS.get(table, ()))],
        )
        return cursor.fetchone()[0]


def test_the_suite_runs_as_the_runtime_role() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (settings.TEST_RUNTIME_ROLE, False)
    assert runtime_privilege_problems(connection) == []


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_the_runtime_role_cannot_truncate_update_delete_or_alter(table: str) -> None:
    _refused(f"TRUNCATE {table}")
    _refused(f"DELETE FROM {table}")  # noqa: S608 - table names from the models
    column = _a_column(table)
    _refused(f"UPDATE {table} SET {column} = {column}")  # noqa: S608
    _refused(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    _refused(f"ALTER TABLE {table} ADD COLUMN forged text")
    _refused(f"DROP TABLE {table}")


def test_the_inspection_state_columns_are_the_only_updatable_ones() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.column_privileges "
            "WHERE grantee = current_user AND privilege_type = 'UPDATE' AND table_name = ANY(%s)",
            [AUDIT_TABLES],
        )
        granted = sorted(cursor.fetchall())
    assert granted == sorted(
        (table, column) for table, columns in UPDATABLE_AUDIT_COLUMNS.items() for column in columns
    )


def test_partitions_are_covered_too_including_ones_created_later() -> None:
    now = datetime.now(UTC)
    current = partition_name(now.date())
    with connection.cursor() as cursor:  # created through the SECURITY DEFINER function, as the runtime role
        cursor.execute("SELECT audit_ensure_partition(DATE '2041-07-01')")
    for partition in (current, partition_name(datetime(2041, 7, 1).date())):
        _refused(f"TRUNCATE {partition}")
        _refused(f"DELETE FROM {partition}")  # noqa: S608
        _refused(f"UPDATE {partition} SET path = path")  # noqa: S608
        _refused(f"ALTER TABLE {partition} DISABLE TRIGGER ALL")
        _refused(f"ALTER TABLE audit_accessrecord DETACH PARTITION {partition}")


def test_the_runtime_role_cannot_create_tables_or_rewrite_the_function() -> None:
    _refused("CREATE TABLE audit_shadow (id int)")
    _refused(
        "CREATE OR REPLACE FUNCTION audit_ensure_partition(month date) RETURNS boolean "
        "LANGUAGE sql AS $$ SELECT true $$"
    )
    _refused("CREATE TABLE audit_accessrecord_y2042m01 PARTITION OF audit_accessrecord "
             "FOR VALUES FROM ('2042-01-01') TO ('2042-02-01')")  # fmt: skip


@pytest.mark.django_db(databases=["default", OWNER_ALIAS])
def test_the_owner_or_a_superuser_is_what_the_deploy_check_refuses() -> None:
    problems = runtime_privilege_problems(connections[OWNER_ALIAS])
    assert "is a superuser" in problems
    assert "owns audit_accessrecord" in problems


def test_check_deploy_fails_when_the_application_connects_as_the_owner() -> None:
    owner = connections[OWNER_ALIAS].settings_dict
    runtime = connection.settings_dict
    base = f"postgres://{{user}}@{owner['HOST']}:{owner['PORT'] or 5432}/{runtime['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "renergy.settings.production",
        "SECRET_KEY": "check-deploy-" + "x" * 50,
        "ALLOWED_HOSTS": "renergy.example.jp",
        "DATABASE_MIGRATE_URL": base.format(user=owner["USER"]),
    }
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    as_owner = subprocess.run(  # noqa: S603
        command,
        env={**env, "DATABASE_URL": base.format(user=owner["USER"])},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert as_owner.returncode != 0
    assert "audit.E011" in as_owner.stderr and "is a superuser" in as_owner.stderr
    as_runtime = subprocess.run(  # noqa: S603
        command,
        env={**env, "DATABASE_URL": base.format(user=settings.TEST_RUNTIME_ROLE)},
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
    )
    assert "audit.E011" not in as_runtime.stderr, as_runtime.stderr
