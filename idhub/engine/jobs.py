"""A worker's side of the job outbox for one target: claim with a lease, renew it, find
what is still ours, finish, requeue with backoff or park, and the account links.

* Claims: `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers on several
  machines share the queue; SQLite serialises writers, one worker is enough there. A job
  whose lease ran out (its worker died) is claimed again; a subject already running
  elsewhere is skipped, so no subject is converged by two workers at once.
* Lanes: urgent jobs (cutting access) are claimed before bulk ones. `idhub worker` runs
  two workers per target: one claims urgent jobs only, one bulk jobs only, so an urgent
  job never waits behind a round of bulk work already claimed (Lane).
* A target being away never parks a job, nor grows its backoff: the round is handed back
  as it was (`hand_back`) and the worker waits for the target instead (engine/outage.py).
  Data a target refuses backs the job off or parks it as failed; so does being abandoned
  max_attempts times.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import uuid
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from connectors.base import ConnectorError
from idhub.db import Database, among, table_of, upsert
from idhub.metrics import JOBS_FAILED, JOBS_PARKED, TARGET_ERRORS, on_commit
from idhub.models import AccountLink, JobState, LinkState, ProvisioningJob, Urgency, utcnow

if TYPE_CHECKING:  # worker.py builds the queue with its settings
    from idhub.engine.worker import WorkerSettings


class Lane(enum.StrEnum):
    """Which of a target's jobs a worker claims."""

    ALL = "all"  # urgent first, then bulk: a worker alone on its target
    URGENT = "urgent"  # urgent only, beside a BULK worker: its rounds are as small as they come
    BULK = "bulk"  # bulk only, beside an URGENT worker


# Literal SQL, not bound parameters: the urgent lane's claim must imply the WHERE of the
# partial index ix_provisioning_job_urgent, which SQLite checks on the statement's text.
_PENDING_SQL: ColumnElement[str] = literal_column("'pending'")
_BULK_SQL: ColumnElement[int] = literal_column(str(int(Urgency.BULK)))


class JobQueue:
    """The jobs of one target, as one worker (`worker_id`) claims and settles them."""

    def __init__(
        self,
        db: Database,
        target: str,
        worker_id: str,
        settings: WorkerSettings,
        lane: Lane = Lane.ALL,
    ) -> None:
        self.db = db
        self.target = target
        self.worker_id = worker_id
        self.settings = settings
        self.lane = lane

    # -- claiming ---------------------------------------------------------------------
    def due(self) -> bool:
        """Is there a job to claim now? (A read; always yes on PostgreSQL, whose claim
        takes no lock from anyone when there is nothing to claim.)"""
        return not self.db.is_sqlite or self._anything_to_claim(self._claim_query(utcnow()))

    def claim(self) -> list[ProvisioningJob]:
        now = utcnow()
        query = self._claim_query(now)
        if self.db.is_sqlite and not self._anything_to_claim(query):
            return []  # an idle poll takes no write lock from the HR API
        with self.db.transaction() as session:
            jobs = []
            claimed: ProvisioningJob
            for claimed in session.scalars(query):
                abandoned = claimed.state == JobState.RUNNING  # its lease ran out
                if abandoned and claimed.attempts >= self.settings.max_attempts:
                    # Claimed and abandoned again and again: its worker keeps dying on it.
                    claimed.state = JobState.FAILED
                    claimed.last_error = f"abandoned by its worker {claimed.attempts} times; parked"
                    claimed.lease_owner = claimed.lease_expires_at = None
                    on_commit(session, JOBS_PARKED.labels(self.target).inc)
                    continue
                jobs.append(claimed)
            expires = now + dt.timedelta(seconds=self.settings.lease_s)
            if jobs:  # one UPDATE for the round, not one per job
                session.execute(
                    update(ProvisioningJob)
                    .where(among(session, ProvisioningJob.id, [j.id for j in jobs]))
                    .values(
                        state=JobState.RUNNING,
                        lease_owner=self.worker_id,
                        lease_expires_at=expires,
                        attempts=ProvisioningJob.attempts + 1,
                        updated_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
            for claimed in jobs:  # what the row now says, without reading it again
                session.expunge(claimed)
                claimed.state = JobState.RUNNING
                claimed.lease_owner = self.worker_id
                claimed.lease_expires_at = expires
                claimed.attempts += 1
        return jobs

    def _claim_query(self, now: dt.datetime) -> Select[Any]:
        job = ProvisioningJob
        busy_elsewhere = select(job.subject_id).where(
            job.state == JobState.RUNNING,
            job.lease_expires_at > now,
            job.target == self.target,
        )
        query = (
            select(job)
            .where(
                or_(
                    and_(job.state == _PENDING_SQL, job.next_try_at <= now),
                    and_(job.state == JobState.RUNNING, job.lease_expires_at <= now),
                ),
                job.subject_id.not_in(busy_elsewhere),
                job.target == self.target,
                *self._lane_filter(),
            )
            .order_by(job.urgency.desc(), job.next_try_at, job.id)
            .limit(self.settings.batch_size)
            .with_for_update(skip_locked=True)
        )
        return query

    def _lane_filter(self) -> list[ColumnElement[bool]]:
        if self.lane is Lane.URGENT:
            return [ProvisioningJob.urgency > _BULK_SQL]
        if self.lane is Lane.BULK:
            return [ProvisioningJob.urgency == _BULK_SQL]
        return []

    def _anything_to_claim(self, claim: Select[Any]) -> bool:
        with self.db.reading() as session:
            return session.scalar(claim.with_only_columns(ProvisioningJob.id).limit(1)) is not None

    def renew(self, job_ids: list[int]) -> None:
        with self.db.transaction() as session:
            session.execute(
                update(ProvisioningJob)
                .where(
                    among(session, ProvisioningJob.id, job_ids),
                    ProvisioningJob.lease_owner == self.worker_id,
                )
                .values(lease_expires_at=utcnow() + dt.timedelta(seconds=self.settings.lease_s))
            )

    # -- what is still ours -------------------------------------------------------------
    def owned_ids(self, session: Session, job_ids: AbstractSet[int]) -> set[int]:
        """The ids among `job_ids` whose lease is still ours."""
        return set(
            session.scalars(
                select(ProvisioningJob.id).where(
                    among(session, ProvisioningJob.id, job_ids),
                    ProvisioningJob.lease_owner == self.worker_id,
                )
            )
        )

    def owned(self, session: Session, job_ids: Iterable[int]) -> list[ProvisioningJob]:
        """Our jobs as they are now; a job whose lease we lost belongs to someone else."""
        rows = session.scalars(
            select(ProvisioningJob).where(
                among(session, ProvisioningJob.id, list(job_ids)),
                ProvisioningJob.lease_owner == self.worker_id,
            )
        )
        return list(rows)

    def load(self, session: Session, job_ids: Iterable[int]) -> dict[int, ProvisioningJob]:
        ids = list(job_ids)
        if not ids:
            return {}
        query = select(ProvisioningJob).where(among(session, ProvisioningJob.id, ids))
        return {j.id: j for j in session.scalars(query)}

    # -- settling -------------------------------------------------------------------------
    def finish(self, session: Session, job_ids: list[int]) -> None:
        """Converged: the jobs are deleted, in one statement."""
        if job_ids:
            session.execute(
                delete(ProvisioningJob)
                .where(among(session, ProvisioningJob.id, job_ids))
                .execution_options(synchronize_session=False)
            )

    def backoff(self, attempts: int) -> dt.timedelta:
        s = self.settings
        delay = min(s.backoff_max_s, s.backoff_base_s * 2 ** (attempts - 1))
        return dt.timedelta(seconds=delay * random.uniform(0.5, 1.5))

    def requeue_failed(
        self,
        session: Session,
        jobs: Sequence[ProvisioningJob],
        error: ConnectorError,
        queued_again: AbstractSet[uuid.UUID] | None = None,
    ) -> tuple[str, bool]:
        """Jobs whose subject failed: retried later, or parked when retrying cannot help.
        Returns the message recorded and whether they were parked."""
        message = f"{type(error).__name__}: {error}"
        self.requeue(
            session,
            jobs,
            message,
            park=not error.retry,
            queued_again=queued_again,
            kind=type(error).__name__,
        )
        return message, any(j.state == JobState.FAILED for j in jobs)

    def requeue(
        self,
        session: Session,
        jobs: Sequence[ProvisioningJob],
        error: str,
        park: bool,
        queued_again: AbstractSet[uuid.UUID] | None = None,
        kind: str = "refused",
    ) -> None:
        """Back to the queue with a backoff, or parked as failed when retrying cannot help;
        the job of a subject a later change queued again is dropped instead. Counted in
        the metrics: one target error of `kind`, and each job failed or parked.

        A target that is away never parks a job: it converges when the target is back.
        `queued_again` (from `queued_again`) lets a caller with many groups of jobs look
        them all up at once.
        """
        if queued_again is None:
            queued_again = set() if park else self.queued_again(session, jobs)
        on_commit(session, TARGET_ERRORS.labels(self.target, kind).inc)
        for job in jobs:
            if not park and job.subject_id in queued_again:
                session.delete(job)
                continue
            on_commit(session, (JOBS_PARKED if park else JOBS_FAILED).labels(self.target).inc)
            if park:
                job.state = JobState.FAILED
            else:
                job.state = JobState.PENDING
                job.next_try_at = utcnow() + self.backoff(job.attempts)
            job.last_error = error[:2000]
            job.lease_owner = None
            job.lease_expires_at = None

    def hand_back(self, session: Session, jobs: Sequence[ProvisioningJob], error: str) -> None:
        """A round the target was away for: the jobs go back due as they were (their place
        in the queue kept), and the attempt the claim counted is given back, so an outage
        of any length neither delays nor parks them. A subject a later change queued again
        keeps that job only."""
        queued_again = self.queued_again(session, jobs)
        for job in jobs:
            if job.subject_id in queued_again:
                session.delete(job)
                continue
            job.state = JobState.PENDING
            job.attempts = max(0, job.attempts - 1)
            job.last_error = error[:2000]
            job.lease_owner = None
            job.lease_expires_at = None

    def waiting(self) -> int:
        """How many of the target's jobs are queued (for an outage's summary)."""
        with self.db.reading() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(ProvisioningJob)
                    .where(ProvisioningJob.target == self.target)
                )
                or 0
            )

    def queued_again(self, session: Session, jobs: Sequence[ProvisioningJob]) -> set[uuid.UUID]:
        """The subjects of `jobs` that have a pending job again (a later change), in one query."""
        if not jobs:
            return set()
        return set(
            session.scalars(
                select(ProvisioningJob.subject_id).where(
                    among(session, ProvisioningJob.subject_id, {j.subject_id for j in jobs}),
                    ProvisioningJob.target == self.target,
                    ProvisioningJob.state == JobState.PENDING,
                )
            )
        )

    # -- account links --------------------------------------------------------------------
    def links(self, session: Session, person_ids: list[uuid.UUID]) -> dict[uuid.UUID, AccountLink]:
        """The people's links on this target, made (pending) where missing."""
        rows = session.scalars(
            select(AccountLink).where(
                among(session, AccountLink.person_id, person_ids),
                AccountLink.target == self.target,
            )
        )
        links = {link.person_id: link for link in rows}
        for person_id in person_ids:
            if person_id not in links:
                links[person_id] = AccountLink(
                    person_id=person_id, target=self.target, state=LinkState.PENDING
                )
                session.add(links[person_id])
        return links


def enqueue_later(
    session: Session,
    subject_ids: Iterable[uuid.UUID],
    reason: str,
    *,
    target: str,
    delay_s: float,
    urgent: bool = True,
) -> None:
    """A job for each subject on `target`, due `delay_s` from now (a worker's own
    follow-up, e.g. the mail target shutting a leaver out again once logins in flight at
    the cut-off are over). A pending job of the subject takes the reason and the higher
    urgency, and runs no earlier than this one would."""
    ids = sorted(set(subject_ids))
    if not ids:
        return
    now = utcnow()
    due = now + dt.timedelta(seconds=delay_s)
    table = table_of(ProvisioningJob)
    statement = upsert(session, table)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["subject_id", "target"],
        index_where=text("state = 'pending'"),
        set_={
            "reason": excluded.reason,
            "coalesced": table.c.coalesced + 1,
            "urgency": case(
                (excluded.urgency > table.c.urgency, excluded.urgency), else_=table.c.urgency
            ),
            "next_try_at": case(
                (excluded.next_try_at > table.c.next_try_at, excluded.next_try_at),
                else_=table.c.next_try_at,
            ),
            "updated_at": excluded.updated_at,
        },
    )
    urgency = int(Urgency.URGENT if urgent else Urgency.BULK)
    rows = [
        {
            "subject_id": subject,
            "target": target,
            "state": "pending",
            "reason": reason[:2000],
            "coalesced": 1,
            "urgency": urgency,
            "attempts": 0,
            "next_try_at": due,
            "request_id": None,
            "created_at": now,
            "updated_at": now,
        }  # fmt: skip
        for subject in ids
    ]
    session.execute(statement, rows)


def upsert_links(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or update account links by (person, target) in one statement."""
    if not rows:
        return
    statement = upsert(session, table_of(AccountLink))
    columns = ("state", "name", "enabled", "last_error", "last_converged_at", "updated_at")
    statement = statement.on_conflict_do_update(
        index_elements=["person_id", "target"],
        set_={column: statement.excluded[column] for column in columns},
    )
    session.execute(statement, rows)


# -- what the queue holds (the metrics' gauges, read at scrape time) ------------------------
_COUNTED = (JobState.PENDING, JobState.RUNNING, JobState.HELD, JobState.FAILED)


def queue_counts(session: Session) -> dict[tuple[str, str], int]:
    """Jobs by (target, state). One query per state, the state as literal SQL, each a
    range of ix_provisioning_job_claim (state, next_try_at) and the rows in it (for their
    target): what is queued, never the whole table. Running and held jobs are few; a
    backlog costs a read per pending job, once a scrape, not per request."""
    counts: dict[tuple[str, str], int] = {}
    job = ProvisioningJob
    for state in _COUNTED:
        rows = session.execute(
            select(job.target, func.count())
            .where(job.state == literal_column(f"'{state.value}'"))
            .group_by(job.target)
        )
        counts.update({(target, state.value): n for target, n in rows})
    return counts


def oldest_waiting(session: Session, target: str) -> dt.datetime | None:
    """When the target's oldest job still to do (pending, running or held) was queued.
    Ids grow with time and coalescing keeps a job's row, so the lowest id is the oldest:
    the primary key is walked from its start and the first match ends the read."""
    job = ProvisioningJob
    return session.scalar(
        select(job.created_at)
        .where(job.target == target, job.state != literal_column("'failed'"))
        .order_by(job.id)
        .limit(1)
    )
