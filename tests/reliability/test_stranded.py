"""Stranded work: queued while the broker was down, or left by a dead worker, is queued again; a failing
import ends FAILED with its reason shown to the uploader, and its upload is deleted whatever happens."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audit.inspection import inspection_schedule_previous_month
from audit.models import InspectionRun, InspectionRunStatus, SecurityEvent
from certifications.models import ImportJob, ImportStatus
from certifications.services import import_job_create, import_job_execute, import_jobs_requeue_stranded
from renergy.celery import app
from renergy.databases import LOCK_IMPORT_JOB
from tests.certifications.test_import import row, xlsx_bytes
from tests.reliability.servers import RedisServer, port
from tests.reliability.test_db_limits import table_locked

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    """The Celery app pointed at a Redis server of our own, which the test stops and starts."""
    server = RedisServer(port(5))
    saved = app.conf.broker_url

    def point_at(url: str) -> None:
        # celery keeps the broker's connection pools privately; dropping them makes the next send use `url`.
        app.conf.broker_url = url  # type: ignore[misc]
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    point_at(server.url)
    yield server
    server.kill()
    point_at(saved)


def _queued_tasks(server: RedisServer) -> list[tuple[str, str]]:
    client = redis.Redis.from_url(server.url)
    return [
        (message["headers"]["task"], message["headers"]["argsrepr"])
        for message in (json.loads(raw) for raw in client.lrange("celery", 0, -1))
    ]


@pytest.fixture
def media(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}},
    }
    return tmp_path


def test_an_inspection_queued_while_the_broker_is_down_is_queued_again_when_its_month_is_scheduled_again(broker):
    run = inspection_schedule_previous_month()  # the broker is down: the enqueue fails, the run stays queued
    assert run.status == InspectionRunStatus.QUEUED
    broker.start()
    assert _queued_tasks(broker) == []
    again = inspection_schedule_previous_month()
    assert again.pk == run.pk and InspectionRun.objects.count() == 1
    assert _queued_tasks(broker) == [("audit.tasks.run_inspection", f"({run.pk},)")]


def test_the_sweep_queues_again_an_old_pending_import_but_not_one_a_worker_holds(broker, orgs, make_user, media):
    agency = make_user(orgs.agency)
    left, held = (
        import_job_create(user=agency, upload=SimpleUploadedFile("a.xlsx", xlsx_bytes([row("S000001B01")])))
        for _ in range(2)
    )
    ImportJob.objects.update(created_at=timezone.now() - timedelta(hours=1))
    broker.start()
    params = connection.get_connection_params()
    other_worker = psycopg.connect(dbname=params["dbname"], user=params.get("user"), host=params.get("host"))
    try:
        other_worker.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_IMPORT_JOB, held.pk])
        assert import_jobs_requeue_stranded() == [left.pk]
    finally:
        other_worker.close()
    assert _queued_tasks(broker) == [("certifications.run_import_job", f"({left.pk},)")]
    assert import_jobs_requeue_stranded(older_than_seconds=7200) == []


def test_a_crashing_import_ends_failed_with_its_reason_shown_and_its_upload_deleted(
    orgs, make_user, media, signed_in_client
):
    agency = make_user(orgs.agency)
    job = import_job_create(user=agency, upload=SimpleUploadedFile("list.xlsx", xlsx_bytes([row("C000001B01")])))
    stored = media / job.file.name
    assert stored.exists()
    with table_locked("certifications_facility"):  # the write gives up after the lock limit: the job raises
        job = import_job_execute(job_id=job.pk)
    assert job.status == ImportStatus.FAILED and job.finished_at is not None
    assert not stored.exists() and not ImportJob.objects.get(pk=job.pk).file
    [error] = job.errors
    assert "OperationalError" in error["reason"] and error["line"] == ""
    page = signed_in_client(agency).get(reverse("certifications:import_job", args=[job.pk])).content.decode()
    assert "取込に失敗しました" in page and error["reason"] in page
    assert SecurityEvent.objects.filter(action="facility.import_failed", data__job=job.pk).count() == 1


def test_a_rejected_and_a_successful_import_delete_their_uploads_too(orgs, make_user, media):
    agency = make_user(orgs.agency)
    good = import_job_create(user=agency, upload=SimpleUploadedFile("g.xlsx", xlsx_bytes([row("T000001B01")])))
    bad = import_job_create(
        user=agency, upload=SimpleUploadedFile("b.xlsx", xlsx_bytes([row("T000002B01", 発電出力kW="x")]))
    )
    paths = [media / good.file.name, media / bad.file.name]
    assert import_job_execute(job_id=good.pk).status == ImportStatus.SUCCEEDED
    assert import_job_execute(job_id=bad.pk).status == ImportStatus.FAILED
    assert not any(path.exists() for path in paths)
    # A redelivered task finds the job finished and leaves it as it is.
    assert import_job_execute(job_id=good.pk).status == ImportStatus.SUCCEEDED
