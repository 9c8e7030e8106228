"""Time limits on every application connection to PostgreSQL.

Without them one lock on a table (the audit table, say) makes every request wait for as long as the lock is
held, the health check too. With them a blocked statement fails after DB_LOCK_TIMEOUT_MS, the request answers
the 503 outage page, and the record shows the real wait. Long jobs (the fiscal-year report, the
self-inspection, COPY exports, partition DDL, migrations) raise statement_timeout for their own transaction
with `long_statements()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from renergy.env import env_int


def database_options(engine: str) -> dict[str, Any]:
    """OPTIONS for DATABASES["default"]: libpq's connect_timeout and the server settings sent at connect."""
    if engine != "django.db.backends.postgresql":
        return {}
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
def long_statements() -> Iterator[None]:
    """Lift the statement limit to DB_LONG_STATEMENT_TIMEOUT_MS (default 0 = none) for a long job on this
    connection, and restore the connection's default afterwards. The lock limit stays: a long job that cannot
    get its lock still gives up instead of queueing every request behind it."""
    from django.db import connection  # settings import this module: no database machinery at import time

    if connection.vendor != "postgresql":
        yield
        return
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


def lift_statement_limit_until_closed() -> None:
    """For a long COPY relayed by a generator (a download): lift the limit on this connection and have Django
    drop the connection when the request ends. Nothing to restore, so nothing runs SQL when a dropped download's
    generator is collected in the middle of another query."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{long_statement_timeout_ms()}ms"])
        connection.close_at = 0


def lift_statement_limit_for_migrations(sender: object, using: str = "default", **kwargs: object) -> None:
    """pre_migrate: schema changes (partition DDL, index builds) run without the request-sized limit."""
    from django.db import connections

    target = connections[using]
    if target.vendor == "postgresql":
        with target.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{long_statement_timeout_ms()}ms"])


def restore_statement_limit_after_migrations(sender: object, using: str = "default", **kwargs: object) -> None:
    """post_migrate: the connection (a test run goes on using it) is back to the connection's own limit."""
    from django.db import connections

    target = connections[using]
    if target.vendor == "postgresql":
        with target.cursor() as cursor:
            cursor.execute("RESET statement_timeout")


def is_timeout(error: BaseException) -> bool:
    """A lock_timeout, statement_timeout or cancelled query: the database is blocked, not the request wrong."""
    cause = getattr(error, "__cause__", None) or error
    return getattr(cause, "sqlstate", None) in {"55P03", "57014"}


# Advisory-lock namespaces of the jobs that must run on one worker at a time (first key of the pair).
LOCK_INSPECTION_RUN = 11_001
LOCK_IMPORT_JOB = 11_002


@contextmanager
def job_lock(namespace: int, job_id: int) -> Iterator[bool]:
    """Hold a session advisory lock for one job while it runs; yields False when another worker holds it.

    The lock lives with the database connection, so a worker killed mid-job (SIGKILL, lost node) releases it
    when PostgreSQL drops its connection: "queued or running, and nobody holds the lock" means stranded.
    On SQLite (the embedded default, one worker) it always yields True."""
    from django.db import connection

    if connection.vendor != "postgresql":
        yield True
        return
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

    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s "
            "AND objsubid = 2 AND granted)",
            [namespace, job_id],
        )
        return bool(cursor.fetchone()[0])
