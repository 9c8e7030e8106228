"""Least privilege for the runtime role: the statements that create it and grant what it needs, no more.

The runtime role (DATABASE_URL: web, worker, beat) may read and append to the audit trail but never
UPDATE, DELETE, TRUNCATE or alter it; it owns nothing and cannot create tables. The owner role
(DATABASE_MIGRATE_URL) owns every table, runs migrations and these grants, and drops expired partitions.

The grants are computed from the catalogue, so they cover whatever tables exist; default privileges cover
tables the owner creates later (new monthly partitions get SELECT, INSERT). Run `manage.py db_roles`
after every `migrate --database owner`; `--print-sql` shows the statements for a DBA to run instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import sql

# The inspection's working state changes as the work proceeds: a run's progress and a finding's current
# review state (each review itself is an append-only FindingReview). Every other column of these tables,
# and every column of the other audit tables, stays append-only for the runtime role.
UPDATABLE_AUDIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "audit_inspectionrun": ("status", "progress", "error", "finished_at"),
    # A re-run of the same period updates its findings in place (the upsert in audit.inspection).
    "audit_finding": ("review_state", "run_id", "severity", "numbers"),
}
# Written by migrations only.
READ_ONLY_TABLES = frozenset({"django_migrations", "django_content_type", "auth_permission"})
# Creating an empty partition is harmless, so the writer's last resort may do it (audit migration 0002); the
# facility statistics refresh after a load (certifications migration 0007) likewise.
RUNTIME_FUNCTIONS = ("audit_ensure_partition(date)", "certifications_facility_analyze()")


def audit_tables() -> list[str]:
    """Every table of the audit app, and django-auditlog's model history."""
    tables = [model._meta.db_table for model in apps.get_app_config("audit").get_models()]
    tables.append(apps.get_model("auditlog", "LogEntry")._meta.db_table)
    return sorted(tables)


@dataclass(frozen=True)
class Table:
    name: str
    root: str  # the partitioned parent for a partition, else the table itself
    kind: str  # "r" table, "p" partitioned table, "S" sequence


def _relations(connection: BaseDatabaseWrapper) -> list[Table]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, COALESCE(root.relname, owner_table.relname, c.relname), c.relkind
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
            LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
            LEFT JOIN pg_class root ON root.oid = i.inhparent
            LEFT JOIN pg_depend d ON d.objid = c.oid AND c.relkind = 'S' AND d.deptype IN ('a', 'i')
                AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
            LEFT JOIN pg_class owner_table ON owner_table.oid = d.refobjid
            WHERE c.relkind IN ('r', 'p', 'S')
            ORDER BY c.relname
            """
        )
        return [Table(name, root, kind) for name, root, kind in cursor.fetchall()]


def _existing_functions(connection: BaseDatabaseWrapper) -> list[str]:
    found = []
    with connection.cursor() as cursor:
        for signature in RUNTIME_FUNCTIONS:
            cursor.execute("SELECT to_regprocedure(%s) IS NOT NULL", [signature])
            if cursor.fetchone()[0]:
                found.append(signature)
    return found


def role_statements(*, runtime: str, password: str | None) -> list[sql.Composable]:
    """Create the runtime role unless it exists: it can log in and do nothing else until granted."""
    attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
    create = sql.SQL(
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) THEN CREATE ROLE {role} {attrs}; "
        "END IF; END $$"
    ).format(name=sql.Literal(runtime), role=sql.Identifier(runtime), attrs=sql.SQL(attributes))
    statements: list[sql.Composable] = [create]
    if password:
        statements.append(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(runtime), sql.Literal(password)))
    return statements


def grant_statements(connection: BaseDatabaseWrapper, *, runtime: str, owner: str) -> list[sql.Composable]:
    """GRANT/REVOKE for every relation that exists now, plus default privileges for those to come."""
    role = sql.Identifier(runtime)
    audit = set(audit_tables())
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_schema()")
        database, schema = cursor.fetchone()
    statements: list[sql.Composable] = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM PUBLIC").format(sql.Identifier(schema)),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(schema), role),
    ]
    for table in _relations(connection):
        name = sql.Identifier(table.name)
        if table.kind == "S":
            rights = "USAGE, SELECT" if table.root in audit else "USAGE, SELECT, UPDATE"
            statements.append(sql.SQL("REVOKE ALL ON SEQUENCE {} FROM {}").format(name, role))
            statements.append(sql.SQL("GRANT {} ON SEQUENCE {} TO {}").format(sql.SQL(rights), name, role))
            continue
        statements.append(sql.SQL("REVOKE ALL ON TABLE {} FROM {}").format(name, role))
        if table.root in audit:
            rights = "SELECT, INSERT"
        elif table.root in READ_ONLY_TABLES:
            rights = "SELECT"
        else:
            rights = "SELECT, INSERT, UPDATE, DELETE"
        statements.append(sql.SQL("GRANT {} ON TABLE {} TO {}").format(sql.SQL(rights), name, role))
        columns = UPDATABLE_AUDIT_COLUMNS.get(table.name)
        if columns:
            statements.append(
                sql.SQL("GRANT UPDATE ({}) ON TABLE {} TO {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, columns)), name, role
                )
            )
    for signature in _existing_functions(connection):
        # A signature such as name(date) is not an identifier; it comes from the constant above.
        statements.append(sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(sql.SQL(signature)))
        statements.append(sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(sql.SQL(signature), role))
    defaults = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} ").format(
        sql.Identifier(owner), sql.Identifier(schema)
    )
    statements += [
        # Tables the owner creates later (monthly partitions above all) can be read and appended to, nothing more;
        # the next `db_roles` after a migration widens ordinary tables.
        defaults + sql.SQL("GRANT SELECT, INSERT ON TABLES TO {}").format(role),
        defaults + sql.SQL("GRANT USAGE, SELECT ON SEQUENCES TO {}").format(role),
    ]
    return statements


def current_role(connection: BaseDatabaseWrapper) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        return cursor.fetchone()[0]


def roles_apply(owner_connection: BaseDatabaseWrapper, *, runtime: str, password: str | None) -> list[str]:
    """Create (if missing) and grant the runtime role through the owner's connection; returns the SQL run."""
    owner = current_role(owner_connection)
    if owner == runtime:
        raise ValueError(f"the runtime role and the owner are both {runtime!r}: set DATABASE_MIGRATE_URL")
    statements = role_statements(runtime=runtime, password=password)
    statements += grant_statements(owner_connection, runtime=runtime, owner=owner)
    executed = []
    raw = owner_connection.connection
    # One transaction: a running application never sees the moment between a REVOKE and its GRANT.
    with transaction.atomic(using=owner_connection.alias), owner_connection.cursor() as cursor:
        for statement in statements:
            text = statement.as_string(raw)
            cursor.execute(text)
            executed.append(text)
    return executed


def runtime_privilege_problems(connection: BaseDatabaseWrapper) -> list[str]:
    """What the connection's role may do that the runtime role must not (empty when it is least-privilege)."""
    problems = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        if cursor.fetchone()[0]:
            problems.append("is a superuser")
        cursor.execute(
            """
            SELECT c.relname,
                   pg_has_role(current_user, c.relowner, 'MEMBER'),
                   has_table_privilege(c.oid, 'UPDATE'), has_table_privilege(c.oid, 'DELETE'),
                   has_table_privilege(c.oid, 'TRUNCATE')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
            WHERE c.relname = ANY(%s)
            """,
            [audit_tables()],
        )
        for name, owns, update, delete, truncate in cursor.fetchall():
            if owns:
                problems.append(f"owns {name}")
            rights = [right for right, held in (("UPDATE", update), ("DELETE", delete), ("TRUNCATE", truncate)) if held]
            if rights:
                problems.append(f"may {'/'.join(rights)} {name}")
    return problems
