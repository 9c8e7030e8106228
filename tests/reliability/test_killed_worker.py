"""A worker killed with SIGKILL in the middle of an inspection and of an import: both are delivered again and
finished exactly once (real Celery workers in their own processes, against Redis, acks_late)."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from audit.inspection import inspection_create, inspections_requeue_stranded
from audit.models import InspectionRun, InspectionRunStatus, SecurityEvent
from certifications.models import Facility, ImportJob, ImportStatus
from certifications.services import import_job_create, import_jobs_requeue_stranded
from renergy.databases import LOCK_IMPORT_JOB, LOCK_INSPECTION_RUN, job_running
from tests.certifications.test_import import row, xlsx_bytes
from tests.reliability.test_db_limits import table_locked
from tests.reliability.workers import Worker

pytestmark = [pytest.mark.celery, pytest.mark.django_db(transaction=True)]


def _until(condition, *, timeout: float, what: str, workers: list[Worker]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    logs = "\n".join(worker.output()[-3000:] for worker in workers)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def _database_url() -> str:
    params = connection.settings_dict
    return f"postgres://{params['USER']}@{params['HOST']}:{params['PORT']}/{params['NAME']}"


def test_jobs_of_a_killed_worker_are_redelivered_and_finished_exactly_once(orgs, make_user, settings, tmp_path):
    assert settings.CELERY_BROKER_URL.startswith("redis://")
    redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # our own database number only
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
    }
    agency = make_user(orgs.agency)
    now = timezone.now()
    run = inspection_create(period_start=now - timedelta(days=30), period_end=now, label="点検")
    job = import_job_create(
        user=agency, upload=SimpleUploadedFile("list.xlsx", xlsx_bytes([row(f"K{n:06d}B01") for n in range(30)]))
    )
    stored = tmp_path / "media" / job.file.name
    assert stored.exists()
    spawn = {"database_url": _database_url(), "redis_url": settings.CELERY_BROKER_URL, "var_dir": tmp_path}
    first = [Worker(**spawn).start(), Worker(**spawn).start()]
    second: list[Worker] = []
    try:
        # Each job blocks on a table lock half-way (the inspection reading the trail, the import writing).
        with table_locked("audit_accessrecord"), table_locked("certifications_facility"):
            # A job takes its lock first and marks itself running a moment later: wait for both.
            _until(
                lambda: job_running(LOCK_INSPECTION_RUN, run.pk) and job_running(LOCK_IMPORT_JOB, job.pk)
                and InspectionRun.objects.get(pk=run.pk).status == InspectionRunStatus.RUNNING
                and ImportJob.objects.get(pk=job.pk).status == ImportStatus.RUNNING,
                timeout=60, what="both jobs to be running", workers=first,
            )  # fmt: skip
            for worker in first:
                worker.kill()
        # PostgreSQL ends the dead workers' sessions (and their job locks) once their statements return.
        _until(
            lambda: not job_running(LOCK_INSPECTION_RUN, run.pk) and not job_running(LOCK_IMPORT_JOB, job.pk),
            timeout=30, what="the dead workers' sessions to end", workers=first,
        )  # fmt: skip
        second = [Worker(**spawn).start()]
        # What beat's stranded-work job does every five minutes (here at once): the jobs are queued or running
        # and nobody holds their lock, so they are queued again. The broker's own redelivery of the dead
        # workers' unacknowledged messages (visibility timeout) did not happen with kombu 5.7 here; the sweep
        # is what recovers, and whichever delivery comes second finds the job done.
        assert sorted(inspections_requeue_stranded(older_than_seconds=0)) == [run.pk]
        assert sorted(import_jobs_requeue_stranded(older_than_seconds=0)) == [job.pk]
        _until(
            lambda: InspectionRun.objects.get(pk=run.pk).status == InspectionRunStatus.DONE
            and ImportJob.objects.get(pk=job.pk).status == ImportStatus.SUCCEEDED,
            timeout=90, what="re-queued and completed", workers=second,
        )  # fmt: skip
    finally:
        for worker in first + second:
            worker.stop()
    assert SecurityEvent.objects.filter(action="inspection.completed", data__run=run.pk).count() == 1
    assert SecurityEvent.objects.filter(action="facility.imported", data__job=job.pk).count() == 1
    assert Facility.objects.filter(facility_id__startswith="K").count() == 30
    job.refresh_from_db()
    assert job.created_count + job.unchanged_count == 30 and not job.file and not stored.exists()
    # The killed workers had taken both jobs; the new worker finished them.
    taken = set(re.findall(r"\[([0-9a-f-]{36})\] received", "".join(w.output() for w in first)))
    assert len(taken) == 2
    for worker in first + second:
        worker.discard()
