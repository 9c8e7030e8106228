"""Liveness (/healthz) and readiness (/readyz) for the proxy and the orchestrator. Both are public, both are
recorded like every request, and both keep answering when the audit store is down (AUDIT_FAIL_OPEN_PATHS):
they disclose no data, and the orchestrator must see the outage."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.permissions import public


@public
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 only when the database answers. Cheap on purpose; /readyz says what is degraded."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok"})


def _redis_ping(url: str) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        client.ping()
    finally:
        client.close()
    return {}


def _database() -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {}


def _redis() -> dict[str, Any]:
    if not settings.REDIS_URL:
        return {"configured": False}
    return _redis_ping(settings.REDIS_URL)


def _broker() -> dict[str, Any]:
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return {"transport": url.split(":", 1)[0]}
    return _redis_ping(url)


def _outbox() -> dict[str, Any]:
    from accounts.outbox import outbox_backlog

    backlog = outbox_backlog()
    if backlog["oldest_unsent_seconds"] > settings.READY_OUTBOX_MAX_AGE_SECONDS:
        raise RuntimeError(f"oldest unsent e-mail waits {backlog['oldest_unsent_seconds']} s")
    return backlog


def _sealing() -> dict[str, Any]:
    from audit.models import AuditSeal

    last = AuditSeal.objects.order_by("-period_end").values_list("period_end", flat=True).first()
    if last is None:
        return {"sealed_until": None}
    lag = int((timezone.now() - last).total_seconds())
    if lag > settings.READY_SEALING_MAX_LAG_SECONDS:
        raise RuntimeError(f"records of the last {lag} s are not sealed")
    return {"sealed_until": last.isoformat(), "lag_seconds": lag}


COMPONENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "database": _database,
    "redis": _redis,
    "broker": _broker,
    "email_outbox": _outbox,
    "sealing": _sealing,
}


@public
@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: each component with its state and timing; 503 naming the degraded ones."""
    components: dict[str, dict[str, Any]] = {}
    degraded: list[str] = []
    for name, check in COMPONENTS.items():
        started = time.perf_counter()
        try:
            state: dict[str, Any] = {"ok": True, **check()}
        except Exception as error:
            state = {"ok": False, "error": f"{type(error).__name__}: {error}"[:200]}
            degraded.append(name)
        state["ms"] = round((time.perf_counter() - started) * 1000, 1)
        components[name] = state
    body = {"status": "degraded" if degraded else "ok", "degraded": degraded, "components": components}
    return JsonResponse(body, status=503 if degraded else 200)
