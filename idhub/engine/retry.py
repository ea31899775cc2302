"""Sending a parked (failed) job back to the queue, after its cause was fixed: one rule
for the API's `POST /jobs/{id}/retry` and the console's retry buttons."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.errors import Conflict
from idhub.models import JobState, ProvisioningJob, utcnow


def retry_job(session: Session, audit: AuditLog, actor: Actor, job: ProvisioningJob) -> None:
    """Failed → pending now, attempts reset, audited; refused for a job that is not
    failed or whose subject already has a pending job on that target."""
    if job.state != JobState.FAILED:
        raise Conflict("Only failed jobs can be retried.", code="job_not_failed")
    other = session.scalar(
        select(ProvisioningJob.id).where(
            ProvisioningJob.subject_id == job.subject_id,
            ProvisioningJob.target == job.target,
            ProvisioningJob.state == JobState.PENDING,
        )
    )
    if other is not None:
        raise Conflict("The person already has a pending job.", code="job_already_pending")
    job.state, job.attempts, job.next_try_at = JobState.PENDING, 0, utcnow()
    audit.record(session, actor=actor, action="job.retry", object_type="job", object_id=job.id)
