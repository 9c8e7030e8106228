"""Time limits on every connection: a lock held on a table answers the outage page within the limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse

from audit.models import AccessRecord

pytestmark = [pytest.mark.django_db(transaction=True)]
LIMIT_S = 2.0  # DB_LOCK_TIMEOUT_MS's default; the bounds leave 3 s for a loaded CI machine (the lock is held for ever)


@contextmanager
def table_locked(table: str) -> Iterator[None]:
    """A second connection holds `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` (what a careless operator does)."""
    params = connection.get_connection_params()
    blocker = psycopg.connect(
        dbname=params["dbname"], user=params.get("user"), host=params.get("host"), port=params.get("port")
    )
    try:
        blocker.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        blocker.rollback()
        blocker.close()


def test_every_connection_carries_the_limits():
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('lock_timeout'), current_setting('statement_timeout')")
        assert cursor.fetchone() == ("2s", "30s")
    assert settings.DATABASES["default"]["OPTIONS"]["connect_timeout"] == 5


def test_a_locked_audit_table_answers_503_within_the_limit_and_health_still_answers(orgs, make_user, signed_in_client):
    client = signed_in_client(make_user(orgs.agency), raise_request_exception=False)
    with table_locked("audit_accessrecord"):
        started = time.monotonic()
        page = client.get(reverse("accounts:home"))
        page_seconds = time.monotonic() - started
        started = time.monotonic()
        health = Client().get("/healthz")
        health_seconds = time.monotonic() - started
    assert page.status_code == 503 and "text/html" in page["Content-Type"]
    assert LIMIT_S <= page_seconds < LIMIT_S + 3
    assert health.status_code == 200 and health_seconds < LIMIT_S + 3


def test_a_locked_data_table_answers_503_and_the_record_carries_the_real_wait(orgs, make_user, signed_in_client):
    client = signed_in_client(make_user(orgs.agency), raise_request_exception=False)
    with table_locked("certifications_facility"):
        started = time.monotonic()
        page = client.get(reverse("certifications:list"))
        seconds = time.monotonic() - started
    assert page.status_code == 503 and seconds < LIMIT_S + 3
    record = AccessRecord.objects.get(request_id=page["X-Request-ID"])
    assert record.status == 503
    assert record.duration_ms >= LIMIT_S * 1000


def test_a_locked_session_table_answers_503_not_500(orgs, make_user, signed_in_client):
    client = signed_in_client(make_user(orgs.agency), raise_request_exception=False)
    with table_locked("django_session"):  # read by a middleware, before any view runs
        started = time.monotonic()
        page = client.get(reverse("accounts:home"))
        seconds = time.monotonic() - started
    assert page.status_code == 503 and seconds < LIMIT_S + 3
    assert AccessRecord.objects.get(request_id=page["X-Request-ID"]).status == 503


def test_a_long_job_lifts_the_statement_limit_for_itself_only():
    from renergy.databases import long_statements

    with long_statements(), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone()[0] == "0"
        cursor.execute("SELECT pg_sleep(0.1)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('statement_timeout')")
        assert cursor.fetchone()[0] == "30s"
