"""The two database connections: the runtime role (`default`) and the owner of the tables (`owner`).

PostgreSQL is the only engine. Web, worker and beat connect as the runtime role (DATABASE_URL), which may
SELECT and INSERT on the audit trail but never change, remove or restructure it (audit/roles.py grants
exactly that). The owner (DATABASE_MIGRATE_URL) runs `migrate --database owner`, `db_roles`, and the
worker's partition retention; without it, `owner` is the runtime connection itself, which production
refuses (audit/checks.py).

Time limits on every connection: without them one lock on a table (the audit table, say) makes every request
wait for as long as the lock is held, the health check too. With them a blocked statement fails after
DB_LOCK_TIMEOUT_MS, the request answers the 503 outage page, and the record shows the real wait. Long jobs
(the fiscal-year report, the self-inspection, COPY exports, partition DDL, migrations) raise
statement_timeout for their own transaction with `long_statements()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dj_database_url

from renergy.env import env_int

OWNER_ALIAS = "owner"
ENGINE = "django.db.backends.postgresql"


def database_config(url: str, *, conn_max_age: int) -> dict[str, Any]:
    config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=conn_max_age > 0)
    if config["ENGINE"] != ENGINE:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"PostgreSQL is the only supported database (got {config['ENGINE']}).")
    config.setdefault("OPTIONS", {}).update(database_options())
    return dict(config)


def database_settings(runtime_url: str, owner_url: str, *, conn_max_age: int) -> dict[str, dict[str, Any]]:
    return {
        "default": database_config(runtime_url, conn_max_age=conn_max_age),
        # Used for DDL only (migrations, retention): no persistent connection is kept for it.
        OWNER_ALIAS: database_config(owner_url or runtime_url, conn_max_age=0),
    }


def database_options() -> dict[str, Any]:
    """OPTIONS of every connection: libpq's connect_timeout and the server settings sent at connect."""
    settings = {
        "lock_timeout": env_int("DB_LOCK_TIMEOUT_MS", 2000),
        "statement_timeout": env_int("DB_STATEMENT_TIMEOUT_MS", 30_000),
        # A transaction left open by a crashed request must not hold its locks for ever.
        "idle_in_transaction_session_timeout": env_int("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 60_000),
    }
    return {
        "connect_timeout": env_int("DB_CONNECT_TIMEOUT_SECONDS", 5),
        "options": " ".join(f"-c {name}={value}" for name, value in settings.items()),
    }


@contextmanager
def long_statements(using: str = "default") -> Iterator[None]:
    """Lift the statement limit to DB_LONG_STATEMENT_TIMEOUT_MS (default 0 = none) for a long job on this
    connection, and restore the connection's default afterwards. The lock limit stays: a long job that cannot
    get its lock still gives up instead of queueing every request behind it."""
    from django.db import connections  # settings import this module: no database machinery at import time

    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{long_statement_timeout_ms()}ms"])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET statement_timeout")
        except Exception:  # a broken connection or a failed transaction: never reuse this connection unlimited
            connection.close_at = 0


def long_statement_timeout_ms() -> int:
    return env_int("DB_LONG_STATEMENT_TIMEOUT_MS", 0)


def lift_statement_limit_until_closed(using: str = "default") -> None:
    """For a long COPY relayed by a generator (a download): lift the limit on this connection and have Django
    drop the connection when the request ends. Nothing to restore, so nothing runs SQL when a dropped download's
    generator is collected in the middle of another query."""
    from django.db import connections

    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{long_statement_timeout_ms()}ms"])
    connection.close_at = 0


def lift_statement_limit_for_migrations(sender: object, using: str = "default", **kwargs: object) -> None:
    """pre_migrate: schema changes (partition DDL, index builds) run without the request-sized limit."""
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{long_statement_timeout_ms()}ms"])


def restore_statement_limit_after_migrations(sender: object, using: str = "default", **kwargs: object) -> None:
    """post_migrate: the connection (a test run goes on using it) is back to the connection's own limit."""
    from django.db import connections

    with connections[using].cursor() as cursor:
        cursor.execute("RESET statement_timeout")


# Advisory-lock namespaces of the jobs that must run on one worker at a time (first key of the pair).
LOCK_INSPECTION_RUN = 11_001
LOCK_IMPORT_JOB = 11_002


@contextmanager
def job_lock(namespace: int, job_id: int) -> Iterator[bool]:
    """Hold a session advisory lock for one job while it runs; yields False when another worker holds it.

    The lock lives with the database connection, so a worker killed mid-job (SIGKILL, lost node) releases it
    when PostgreSQL drops its connection: "queued or running, and nobody holds the lock" means stranded."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, job_id])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, job_id])
            except Exception:  # the connection broke: PostgreSQL released the lock with it
                connection.close_at = 0


def job_running(namespace: int, job_id: int) -> bool:
    """Whether some connection (any worker, any node) holds the job's lock now."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s "
            "AND objsubid = 2 AND granted)",
            [namespace, job_id],
        )
        return bool(cursor.fetchone()[0])
