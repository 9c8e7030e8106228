from __future__ import annotations

from celery import shared_task

from certifications.services import import_job_execute


@shared_task(name="certifications.run_import_job")
def run_import_job(job_id: int) -> None:
    import_job_execute(job_id=job_id)
