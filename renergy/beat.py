"""Exactly one Celery beat per deployment, enforced by a PostgreSQL session advisory lock.

Two beats (a second `make run`, a second beat container, a replica set scaled to two) would each send every
scheduled task, and django-celery-beat does nothing against it (django-celery-beat #558, #319; celery #4041).
Every node already reaches PostgreSQL, so the lock lives there: no extra engine, and the lock goes away by
itself when the holder's session ends (process killed, machine gone, connection cut), which is exactly when a
standby should take over. The lock is held on a dedicated connection, not Django's: DatabaseScheduler closes
Django's connections between ticks (close_old_connections), which would drop a session lock.

A beat that does not get the lock logs that it is standby and waits before it loads the schedule, then leads
as soon as the holder's session is gone. A leader that loses its lock connection stops, so that its supervisor
restarts it as a standby instead of it ticking on beside a new leader.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger("renergy.beat")

# One key per database: advisory locks are scoped to the database, so each deployment has its own leader.
LEADER_LOCK_KEY = int.from_bytes(hashlib.sha256(b"renergy.celery-beat.leader").digest()[:8], "big", signed=True)


def _lock_connection() -> Any:
    import psycopg

    db = settings.DATABASES["default"]
    options = {key: value for key, value in (db.get("OPTIONS") or {}).items() if key in {"sslmode", "sslrootcert"}}
    return psycopg.connect(
        dbname=db["NAME"],
        user=db.get("USER") or None,
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        autocommit=True,
        application_name="renergy-beat-leader",
        # Server side: the session of a leader whose machine vanishes (no FIN) ends after about 25 s, which frees
        # the lock for a standby. Client side: a leader cut off from the server finds out within 10 s (its tick's
        # SELECT 1 fails) and stops, before a standby can have taken over.
        options="-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3",
        keepalives=1,
        keepalives_idle=5,
        keepalives_interval=2,
        keepalives_count=3,
        tcp_user_timeout=10_000,
        **options,
    )


def beat_leadership_acquire(*, poll_seconds: float) -> tuple[Any, float]:
    """Block until this process holds the leader lock; returns the lock's connection and the seconds waited."""
    started = time.monotonic()
    announced = False
    while True:
        try:
            conn = _lock_connection()
            if conn.execute("SELECT pg_try_advisory_lock(%s)", [LEADER_LOCK_KEY]).fetchone()[0]:
                waited = time.monotonic() - started
                logger.warning("beat: leader (lock %s acquired after %.1f s)", LEADER_LOCK_KEY, waited)
                return conn, waited
            conn.close()
            if not announced:
                logger.warning("beat: standby, another beat holds the leader lock %s; waiting", LEADER_LOCK_KEY)
                announced = True
        except Exception as error:  # PostgreSQL down: keep waiting, as a standby would
            logger.warning("beat: cannot reach PostgreSQL for the leader lock (%s); retrying", type(error).__name__)
        time.sleep(poll_seconds)


class LeaderDatabaseScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler, run only while this process holds the leader lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._leader_conn = None
        # Celery also builds a lazy instance, only to print its start-up banner: only the one that runs takes the lock.
        if not kwargs.get("lazy"):
            self._leader_conn, _waited = beat_leadership_acquire(poll_seconds=settings.BEAT_LEADER_POLL_SECONDS)
        super().__init__(*args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self._leader_conn is not None:
            try:
                self._leader_conn.execute("SELECT 1")
            except Exception:
                logger.error("beat: lost the leader lock connection; stopping so that a standby leads")
                raise SystemExit(1) from None
        return super().tick(*args, **kwargs)

    def close(self) -> None:
        super().close()
        if self._leader_conn is not None:
            self._leader_conn.close()
            self._leader_conn = None
