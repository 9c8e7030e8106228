from __future__ import annotations

from celery import shared_task

from certifications.services import import_job_execute, import_jobs_requeue_stranded


# acks_late (settings): a worker killed mid-import leaves the message to be delivered again.
@shared_task(name="certifications.run_import_job", acks_late=True, reject_on_worker_lost=True)
def run_import_job(job_id: int) -> None:
    import_job_execute(job_id=job_id)


@shared_task(name="certifications.tasks.requeue_stranded_work")
def requeue_stranded_work() -> dict[str, list[int]]:
    """Every few minutes (beat): imports and self-inspections queued or started but left by their worker."""
    from audit.inspection import inspections_requeue_stranded

    return {"imports": import_jobs_requeue_stranded(), "inspections": inspections_requeue_stranded()}
