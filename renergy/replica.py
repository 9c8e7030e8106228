"""Reads of the heavy read-only paths from a streaming replica, when DATABASE_REPLICA_URL configures one.

The paths are the fiscal-year report, the raw record CSV, facility exports and the self-inspection's queries:
long scans that would otherwise compete with sign-ins and page views on the primary. Everything else reads and
writes the primary, above all what must be exact about the current request (access records, bulk-viewing
limits, sessions, lockout): a replica a few seconds behind would let a just-suspended session through or count
a limit short.

Why the paths opt in (`replica_reads()`, `@reads_from_replica`) rather than a router that sends every read to the
replica: Django's routers decide per model, not per purpose; the same tables (users, organisations, facilities)
are read by the exact paths and by the heavy ones. So the router (ReplicaRouter) sends reads to the replica only
inside those blocks, and raw-SQL paths (COPY) take `read_connection()`.

The replica is used only while it is reachable and at most DATABASE_REPLICA_MAX_LAG_SECONDS behind; otherwise
the read goes to the primary and the fallback is recorded (security event `ops.replica_fallback`, and the log).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger("renergy.replica")

REPLICA = "replica"
F = TypeVar("F", bound=Callable[..., Any])
_reading: contextvars.ContextVar[str | None] = contextvars.ContextVar("renergy_read_alias", default=None)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def replica_lag_seconds() -> float:
    """0 when the replica has replayed everything the primary has written; otherwise the age of its last
    replayed transaction (the usual measure: it grows while replay is behind or paused)."""
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        primary_lsn = cursor.fetchone()[0]
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(
            "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn, "
            "extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())",
            [primary_lsn],
        )
        caught_up, behind = cursor.fetchone()
    if caught_up:
        return 0.0
    return math.inf if behind is None else max(float(behind), 0.0)


def _fallback(*, purpose: str, reason: str, lag: float | None = None) -> str:
    from audit.events import record_event

    data: dict[str, Any] = {"purpose": purpose, "reason": reason}
    if lag is not None:
        data["lag_seconds"] = None if math.isinf(lag) else round(lag, 3)
    logger.warning("replica: %s reads from the primary (%s)", purpose, data)
    record_event(action="ops.replica_fallback", data=data)
    return DEFAULT_DB_ALIAS


def read_alias(*, purpose: str) -> str:
    """Where a heavy read-only path reads now: the replica, or the primary (recorded) when the replica is down or
    too far behind."""
    if not replica_configured():
        return DEFAULT_DB_ALIAS
    try:
        lag = replica_lag_seconds()
    except Exception as error:  # down, refused, timed out: the primary answers instead
        connections[REPLICA].close()
        return _fallback(purpose=purpose, reason=f"unreachable: {type(error).__name__}")
    if lag > settings.DATABASE_REPLICA_MAX_LAG_SECONDS:
        return _fallback(purpose=purpose, reason="lagging", lag=lag)
    return REPLICA


@contextmanager
def replica_reads(*, purpose: str) -> Iterator[str]:
    """ORM reads inside the block go to read_alias(); writes always go to the primary."""
    alias = read_alias(purpose=purpose)
    token = _reading.set(alias)
    try:
        yield alias
    finally:
        _reading.reset(token)


def read_connection() -> BaseDatabaseWrapper:
    """The connection raw SQL of a heavy path should use (the primary outside replica_reads())."""
    return connections[_reading.get() or DEFAULT_DB_ALIAS]


def reads_from_replica(purpose: str) -> Callable[[F], F]:
    """Run a function, or each step of a generator (a streamed response), inside replica_reads(). For a
    generator the alias is chosen when it starts and set only while it runs, never while the caller (the
    audit middleware, the server) handles a chunk."""

    def decorate(func: F) -> F:
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
                inner = func(*args, **kwargs)
                alias = read_alias(purpose=purpose)
                try:
                    while True:
                        token = _reading.set(alias)
                        try:
                            chunk = next(inner)
                        except StopIteration:
                            return
                        finally:
                            _reading.reset(token)
                        yield chunk
                finally:
                    token = _reading.set(alias)
                    try:
                        inner.close()
                    finally:
                        _reading.reset(token)

            return generator  # type: ignore[return-value]

        @functools.wraps(func)
        def function(*args: Any, **kwargs: Any) -> Any:
            with replica_reads(purpose=purpose):
                return func(*args, **kwargs)

        return function  # type: ignore[return-value]

    return decorate


class ReplicaRouter:
    """Reads inside replica_reads() go to the alias it chose; writes, and every other read, to the primary."""

    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        return _reading.get()

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        # Objects loaded from the replica are saved to the primary (Django would write back where they came from).
        instance = hints.get("instance")
        if instance is not None and instance._state.db == REPLICA:
            return DEFAULT_DB_ALIAS
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # the replica holds the primary's rows

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None  # a standby is read-only; it gets the schema by replication
