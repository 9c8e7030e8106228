"""Sign-in, signed-in pages, lockout and the cache while the Redis server is down (a real one, killed)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from accounts.models import User
from audit.models import SecurityEvent
from tests.accounts.conftest import login_steps, ready, signed_in_via_views
from tests.reliability.servers import RedisServer, port

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def dead_redis(settings):
    """A Redis that was up when the cache was configured, then killed."""
    with RedisServer(port(1)) as server:
        settings.CACHES = {
            "default": {
                "BACKEND": "renergy.cache.ResilientRedisCache",
                "LOCATION": server.url,
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            }
        }
        cache.set("probe", 1)
        assert cache.get("probe") == 1
        server.kill()
        yield server


def test_sign_in_and_signed_in_pages_work_while_redis_is_down(dead_redis, orgs, make_user, caplog):
    person = ready(make_user(orgs.grid_tokyo))
    client = signed_in_via_views(Client(raise_request_exception=False), person)
    assert client.get(reverse("accounts:home")).status_code == 200
    assert client.get(reverse("accounts:account")).status_code == 200
    # The cache degrades instead of raising, and says so in the log.
    assert cache.get("probe") is None and cache.set("probe", 2) is None and cache.add("x", 1) is False
    assert "Redis unreachable" in caplog.text


def test_lockout_still_counts_and_locks_while_redis_is_down(dead_redis, orgs, make_user, settings):
    person = ready(make_user(orgs.grid_tokyo))
    client = Client(raise_request_exception=False)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login_steps(client, person, password="wrong password here")
    response = login_steps(client, person)  # the right password, after the limit
    assert response.status_code in (403, 429)
    assert SecurityEvent.objects.filter(action__startswith="auth.").exists()
    assert User.objects.get(pk=person.pk).status == "active"


def test_the_daily_detail_limit_still_holds_while_redis_is_down(dead_redis, orgs, make_user, settings):
    from certifications.generator import generate
    from certifications.models import Facility

    generate(count=30, seed=3)
    settings.FACILITY_DAILY_DETAIL_LIMIT = 2
    client = signed_in_via_views(Client(raise_request_exception=False), ready(make_user(orgs.agency)))
    ids = list(Facility.objects.values_list("facility_id", flat=True)[:3])
    statuses = [client.get(reverse("certifications:detail", args=[i])).status_code for i in ids]
    assert statuses == [200, 200, 429]


def test_readiness_names_redis_and_the_broker_while_liveness_stays_ok(dead_redis, settings):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = dead_redis.url
    assert Client().get("/healthz").status_code == 200
    ready_response = Client().get("/readyz")
    assert ready_response.status_code == 503
    body = ready_response.json()
    assert body["status"] == "degraded" and set(body["degraded"]) == {"redis", "broker"}
    assert body["components"]["database"]["ok"] is True
    dead_redis.start()
    healthy = Client().get("/readyz")
    assert healthy.status_code == 200 and healthy.json()["degraded"] == []
