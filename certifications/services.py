"""Writes around facility imports: create the jobs of an upload, run one (from the Celery task); and the
agency's correction of a facility's operator kind."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.events import record_event
from certifications.importers import archive_members, facilities_import
from certifications.models import Facility, ImportJob, ImportStatus, OperatorKind
from renergy.databases import LOCK_IMPORT_JOB, job_lock, job_running

logger = logging.getLogger("certifications")


@transaction.atomic
def import_jobs_create(*, user: Any, uploads: list[UploadedFile]) -> list[ImportJob]:
    """One job per list file: each uploaded .xlsx/.csv, and each one inside an uploaded zip (raises
    importers.ArchiveRefused for a zip that cannot be used). The jobs share a batch id and run one by one
    on the workers, each with its own progress."""
    batch = uuid.uuid4()
    jobs: list[ImportJob] = []
    for upload in uploads:
        name = (upload.name or "")[:255]
        if Path(name).suffix.lower() == ".zip":
            for member_name, content in archive_members(upload):
                jobs.append(
                    _job(user=user, batch=batch, name=member_name, file=ContentFile(content.read(), member_name))
                )
        else:
            jobs.append(_job(user=user, batch=batch, name=name, file=upload))
    for job in jobs:
        # After commit, or the worker may look for a job row it cannot see yet.
        transaction.on_commit(partial(_enqueue, job.pk))
    return jobs


def _job(*, user: Any, batch: uuid.UUID, name: str, file: Any) -> ImportJob:
    job = ImportJob.objects.create(created_by=user, original_name=name[:255], file=file, batch=batch)
    record_event(
        action="facility.import_requested",
        actor=user,
        data={"job": job.pk, "file": job.original_name, "batch": str(batch)},
    )
    return job


def import_job_create(*, user: Any, upload: UploadedFile) -> ImportJob:
    return import_jobs_create(user=user, uploads=[upload])[0]


def _enqueue(job_id: int) -> None:
    from certifications.tasks import run_import_job

    try:
        run_import_job.delay(job_id)
    except Exception:
        # Broker down: the job stays pending and the stranded-work sweep queues it again.
        logger.exception("certifications: could not queue import job %s", job_id)


def import_job_execute(*, job_id: int) -> ImportJob:
    """Run one job; idempotent: a finished job is left as it is, a job another worker is running is left to it,
    and a job redelivered after its worker died is run again from the start (the upsert by 設備ID makes the
    batches it had already written unchanged). Whatever the outcome, the uploaded file is deleted."""
    with job_lock(LOCK_IMPORT_JOB, job_id) as mine:
        job = ImportJob.objects.get(pk=job_id)
        if not mine or job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
            return job
        ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, started_at=timezone.now())
        try:
            return _import_job_run(job)
        except Exception as error:
            logger.exception("certifications: import job %s failed", job.pk)
            # The reason names the failure, never the file's content (which holds personal data).
            reason = _(
                "取込処理が異常終了しました（%(error)s）。ファイルは削除しました。もう一度取り込んでください。"
            ) % {"error": type(error).__name__}
            ImportJob.objects.filter(pk=job.pk).update(
                status=ImportStatus.FAILED, errors=[{"line": "", "reason": reason}], finished_at=timezone.now()
            )
            record_event(
                action="facility.import_failed",
                actor=job.created_by_id,
                data={"job": job.pk, "error": type(error).__name__},
            )
            job.refresh_from_db()
            return job
        finally:
            # The upload holds operators' personal data; once imported, rejected or failed it is not kept.
            if job.file:
                job.file.delete(save=False)
                ImportJob.objects.filter(pk=job.pk).update(file="")


def import_jobs_requeue_stranded(*, older_than_seconds: int | None = None) -> list[int]:
    """Queue again the jobs that are pending or running, older than the limit, that no worker holds."""
    limit = settings.STRANDED_WORK_AFTER_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=limit)
    stranded = [
        pk
        for pk in ImportJob.objects.filter(
            status__in=[ImportStatus.PENDING, ImportStatus.RUNNING], created_at__lt=cutoff
        ).values_list("pk", flat=True)
        if not job_running(LOCK_IMPORT_JOB, pk)
    ]
    for pk in stranded:
        _enqueue(pk)
    if stranded:
        logger.warning("certifications: re-queued stranded import jobs %s", stranded)
    return stranded


def _import_job_run(job: ImportJob) -> ImportJob:
    def progress(phase: str, done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(phase=phase, processed_rows=done, total_rows=total)

    with job.file.open("rb") as handle:
        result = facilities_import(handle, name=job.original_name, progress=progress)
    job.refresh_from_db()
    job.status = ImportStatus.FAILED if result.errors else ImportStatus.SUCCEEDED
    job.errors = [{"line": error.line, "reason": error.reason} for error in result.errors[:1000]]
    job.unrecognised = result.unrecognised[:200]
    job.created_count, job.updated_count, job.unchanged_count = result.created, result.updated, result.unchanged
    job.finished_at = timezone.now()
    job.save()
    record_event(action=result.event_action, actor=job.created_by, data={"job": job.pk, **result.event_data()})
    return job


@transaction.atomic
def facility_operator_kind_set(*, facility_id: str, kind: str, actor: Any, request: Any = None) -> bool:
    """Record whether the operator is a corporation or a private person (agency staff, from the facility page).
    Returns False when nothing changed. The import keeps this value (importers.py)."""
    if kind not in OperatorKind.values:
        raise ValueError(kind)
    facility = Facility.objects.select_for_update().get(facility_id=facility_id)
    if facility.operator_kind == kind:
        return False
    previous = facility.operator_kind
    facility.operator_kind = kind
    facility.updated_at = timezone.now()
    facility.save(update_fields=["operator_kind", "updated_at"])
    record_event(
        action="facility.operator_kind_set",
        request=request,
        actor=actor,
        data={"facility_id": facility_id, "from": previous, "to": kind},
    )
    return True
