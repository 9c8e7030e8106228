"""Writes around facility imports: create a job, run it (from the Celery task)."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from audit.events import record_event
from certifications.importers import facilities_import
from certifications.models import ImportJob, ImportStatus


@transaction.atomic
def import_job_create(*, user: Any, upload: UploadedFile) -> ImportJob:
    job = ImportJob.objects.create(created_by=user, original_name=(upload.name or "")[:255], file=upload)
    record_event(action="facility.import_requested", actor=user, data={"job": job.pk, "file": job.original_name})
    from certifications.tasks import run_import_job

    # After commit, or the worker may look for a job row it cannot see yet.
    transaction.on_commit(lambda: run_import_job.delay(job.pk))
    return job


def import_job_execute(*, job_id: int) -> ImportJob:
    """Run one job; idempotent: a job that already finished is left as it is."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
        return job
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, started_at=timezone.now())

    def progress(phase: str, done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(phase=phase, processed_rows=done, total_rows=total)

    with job.file.open("rb") as handle:
        result = facilities_import(handle, name=job.original_name, progress=progress)
    job.refresh_from_db()
    job.status = ImportStatus.FAILED if result.errors else ImportStatus.SUCCEEDED
    job.errors = [{"line": error.line, "reason": error.reason} for error in result.errors[:1000]]
    job.created_count, job.updated_count, job.unchanged_count = result.created, result.updated, result.unchanged
    job.finished_at = timezone.now()
    job.save()
    # The upload holds operators' personal data; once imported (or rejected) it is not kept.
    job.file.delete(save=True)
    record_event(
        action="facility.imported" if not result.errors else "facility.import_rejected",
        actor=job.created_by,
        data={
            "job": job.pk,
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "errors": len(result.errors),
        },
    )
    return job
