"""The reliability suite at the size `make test` runs it (bin/reliability runs it longer, with more clients)."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from django.urls import reverse

from accounts.testing import signed_in_client
from audit.models import AccessRecord
from certifications.generator import generate
from certifications.models import Facility
from tests.reliability.servers import AppServer, RedisServer, port
from tests.reliability.suite import run_suite

pytestmark = [pytest.mark.django_db(transaction=True)]

SECONDS = float(os.environ.get("RELIABILITY_SECONDS", "15"))
CLIENTS = int(os.environ.get("RELIABILITY_CLIENTS", "4"))
REDIS_DOWN = float(os.environ.get("RELIABILITY_REDIS_DOWN_SECONDS", str(max(SECONDS / 6, 2))))


def _recorded(request_ids: list[str]) -> set[str]:
    """Request ids whose committed access record names the facilities it disclosed."""
    found: set[str] = set()
    ids = [i for i in set(request_ids) if i]
    for start in range(0, len(ids), 5000):
        found.update(
            str(i)
            for i in AccessRecord.objects.filter(request_id__in=ids[start : start + 5000], row_count__gt=0).values_list(
                "request_id", flat=True
            )
        )
    return found


def test_the_service_keeps_answering_and_records_every_disclosure_through_a_connection_kill_and_a_redis_outage(
    orgs, make_user, capsys
):
    generate(count=200, seed=5)
    people = [make_user(orgs.agency if n % 2 else orgs.grid_tokyo) for n in range(CLIENTS)]
    cookies = []
    for person in people:
        client = signed_in_client(person)
        cookies.append("; ".join(f"{name}={morsel.value}" for name, morsel in client.cookies.items()))
    some = list(Facility.objects.filter(supply_area="tokyo").values_list("facility_id", flat=True)[:5])
    paths = [
        (reverse("certifications:list"), True),
        *((reverse("certifications:detail", args=[facility_id]), True) for facility_id in some),
        (reverse("accounts:home"), False),
        ("/static/css/app.css", False),
        ("/healthz", False),
    ]
    params = connection.settings_dict
    database_url = f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{params['NAME']}"
    with RedisServer(port(6)) as redis_server:
        env = {"REDIS_URL": redis_server.url, "DB_CONN_MAX_AGE": "300", "GUNICORN_WORKERS": "2"}
        with AppServer("gunicorn", port(7), database_url=database_url, env=env) as app:
            report = run_suite(
                app=app,
                redis_server=redis_server,
                cookies=cookies,
                paths=paths,
                seconds=SECONDS,
                redis_down_seconds=REDIS_DOWN,
                record_exists=_recorded,
            )
            log = app.output()
    with capsys.disabled():
        print(f"\nreliability suite: {CLIENTS} clients, {SECONDS:.0f} s, gunicorn + PostgreSQL + own Redis")
        for line in report.lines():
            print("  " + line)
        if os.environ.get("RELIABILITY_VERBOSE"):
            for hit in report.hits:
                print(f"  {hit.at:7.2f} {hit.took:5.2f} {hit.status} {hit.path}")
    assert report.data_served() > 0, log[-3000:]
    assert report.unrecorded == 0
    kill, outage = report.faults
    assert report.errors(outage.started, outage.ended + report.after_window) == 0, log[-3000:]
    assert report.errors(kill.ended, kill.ended + report.after_window) <= 2 * 2, log[-3000:]  # in flight at most
    assert report.recovery(kill) is not None and report.recovery(kill) < 5
    assert report.errors(outage.ended + report.after_window, SECONDS) == 0
