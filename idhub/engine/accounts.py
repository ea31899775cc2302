"""A person's account on each target as HR and the queue see it: in sync, pending,
failed (with the error), absent; the API and the console read it here alike."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.models import AccountLink, JobState, ProvisioningJob


def account_states(session: Session, person_id: uuid.UUID) -> list[dict[str, Any]]:
    links = {
        link.target: link
        for link in session.scalars(select(AccountLink).where(AccountLink.person_id == person_id))
    }
    jobs = {
        job.target: job
        for job in session.scalars(
            select(ProvisioningJob)
            .where(ProvisioningJob.subject_id == person_id)
            .order_by(ProvisioningJob.id)
        )
    }
    states = []
    for target in sorted(set(links) | set(jobs) | {"ldap"}):
        link, job = links.get(target), jobs.get(target)
        state = link.state.value if link else "pending"
        if job is not None and job.state in (JobState.PENDING, JobState.RUNNING, JobState.HELD):
            state = "pending"
        if job is not None and job.state == JobState.FAILED:
            state = "failed"
        states.append(
            {
                "target": target,
                "state": state,
                "dn": link.name if link else None,
                "enabled": link.enabled if link else None,
                "last_error": (job.last_error if job else None)
                or (link.last_error if link else None),
                "last_converged_at": link.last_converged_at if link else None,
                "job": job,
            }
        )
    return states
