"""`idhub worker`: claims converge jobs with a lease, converges them in bulk, records why.

* Claims: `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers on several
  machines share the queue; SQLite serialises writers, one worker is enough there. A job
  whose lease ran out (its worker died) is claimed again; a subject already running
  elsewhere is skipped, so no person is converged by two workers at once.
* The directory is read and written with no database transaction open.
* Failures: the directory being away → the job waits (exponential backoff with jitter)
  and is retried, harmlessly, because converge recomputes from the truth; data the
  directory refuses → parked as failed, visible in the API; after max_attempts → failed.
* SIGTERM/SIGINT: the round in progress finishes and is recorded, then the worker exits.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, delete, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from connectors.base import ConnectorError, OpKind, TargetUnavailable
from connectors.ldap import LdapConnector
from idhub.changes.chain import Actor, AuditLog, Change, encode
from idhub.changes.context import HrContext
from idhub.changes.guard import Guard
from idhub.changes.wakeup import Wakeup
from idhub.db import Database, among, upsert
from idhub.engine.containers import prune_containers
from idhub.engine.followup import after_directory_converge
from idhub.engine.targets.ldap import (
    TARGET,
    PersonPlan,
    UsernamesNeeded,
    apply_plans,
    audit_action,
    compute_plans,
    summary,
)
from idhub.models import AccountLink, JobState, LinkState, ProvisioningJob, utcnow
from idhub.reorg import changesets
from idhub.scheduler.sweep import sweep
from provisioning.model import AccountState
from provisioning.rules import Rules

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 60.0  # how often a worker checks whether the date changed
# While a reorganisation streams through, emptied OUs are looked for at most this often
# (each look scans the OUs), and once more when the queue runs dry.
PRUNE_EVERY_S = 2.0
_LEAVES_OUS = (OpKind.MOVE, OpKind.RENAME, OpKind.DELETE)  # may leave an OU empty
# Pauses before recording a round again when the database went away (a restart or a
# failover takes seconds); together well inside a lease, so the jobs are still ours.
RECORD_RETRY_DELAYS_S = (0.25, 0.5, 1.0, 2.0, 4.0)


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 200
    poll_interval_s: float = 0.05
    lease_s: float = 30.0
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0

    @classmethod
    def from_settings(cls, section: dict[str, Any]) -> WorkerSettings:
        return cls(
            batch_size=int(section["batch_size"]),
            poll_interval_s=float(section["poll_interval_s"]),
            lease_s=float(section["lease_s"]),
            max_attempts=int(section["max_attempts"]),
            backoff_base_s=float(section["backoff_base_s"]),
            backoff_max_s=float(section["backoff_max_s"]),
        )


@dataclass
class _RecordRows:
    done: list[int]
    links: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    troubled: list[PersonPlan] = field(default_factory=list)
    converged: list[PersonPlan] = field(default_factory=list)


@dataclass
class _Round:
    """One claimed batch, planned and applied, waiting to be recorded."""

    jobs: list[ProvisioningJob]
    by_subject: dict[uuid.UUID, list[ProvisioningJob]]
    plans: list[PersonPlan]
    held: set[uuid.UUID]
    to_apply: list[PersonPlan]
    started: float


class Worker:
    target = TARGET  # the jobs this worker claims ("converge subject S on target T")
    # `run` records a round in a thread while the next one is planned and applied.
    pipelined = True

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        connector: LdapConnector,
        rules: Rules,
        *,
        base_dn: str,
        settings: WorkerSettings,
        guard: Guard | None = None,
        worker_id: str | None = None,
        then: tuple[str, ...] = (),
        on_disabled: Callable[[list[uuid.UUID], Actor], object] | None = None,
    ) -> None:
        self.db = db
        self.audit = audit
        self.connector = connector
        self.rules = rules
        self.base_dn = base_dn
        self.settings = settings
        self.guard = guard
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.actor = Actor("system", f"worker {self.worker_id}")
        # Targets converged after the directory, from it (e.g. "mail": Dovecot reads LDAP).
        self.then = then
        # Sign-on: ends the sessions and tokens of people converged to disabled.
        self.on_disabled = on_disabled
        self._prune_due = False  # a round moved people out of OUs since the last prune
        self._next_prune = 0.0
        # Starts its thread on the first submit: workers that never `run` start none.
        self._recorder = ThreadPoolExecutor(1, thread_name_prefix="idhub-recorder")
        self._recording: Future[None] | None = None
        self._wakeup = Wakeup(db.engine)  # an idle worker wakes when jobs are queued

    # -- claiming ---------------------------------------------------------------------
    def claim(self) -> list[ProvisioningJob]:
        now = utcnow()
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
                    and_(job.state == JobState.PENDING, job.next_try_at <= now),
                    and_(job.state == JobState.RUNNING, job.lease_expires_at <= now),
                ),
                job.subject_id.not_in(busy_elsewhere),
                job.target == self.target,
            )
            .order_by(job.next_try_at, job.id)
            .limit(self.settings.batch_size)
            .with_for_update(skip_locked=True)
        )
        if self.db.is_sqlite and not self._anything_to_claim(query):
            return []  # an idle poll takes no write lock from the HR API
        with self.db.transaction() as session:
            jobs = []
            for claimed in session.scalars(query):
                abandoned = claimed.state == JobState.RUNNING  # its lease ran out
                if abandoned and claimed.attempts >= self.settings.max_attempts:
                    # Claimed and abandoned again and again: its worker keeps dying on it.
                    claimed.state = JobState.FAILED
                    claimed.last_error = f"abandoned by its worker {claimed.attempts} times; parked"
                    claimed.lease_owner = claimed.lease_expires_at = None
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

    def _anything_to_claim(self, claim: Select[Any]) -> bool:
        with self.db.reading() as session:
            return session.scalar(claim.with_only_columns(ProvisioningJob.id).limit(1)) is not None

    def _renew(self, job_ids: list[int]) -> None:
        with self.db.transaction() as session:
            session.execute(
                update(ProvisioningJob)
                .where(
                    among(session, ProvisioningJob.id, job_ids),
                    ProvisioningJob.lease_owner == self.worker_id,
                )
                .values(lease_expires_at=utcnow() + dt.timedelta(seconds=self.settings.lease_s))
            )

    # -- one round --------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim a batch, converge it, record the outcome; returns the number of jobs."""
        jobs = self.claim()
        if not jobs:
            if self._prune_due:  # the queue ran dry: the OUs the last rounds emptied
                self.prune()
            return 0
        round_ = self._converge(jobs)
        if round_ is not None:
            self._record_round(round_)
            self._prune_if_due(round_)
        return len(jobs)

    def _pipelined_round(
        self, jobs: list[ProvisioningJob], stopping: bool
    ) -> list[ProvisioningJob]:
        """`run`'s round: converge `jobs`, claim the next round's, and record this one in
        the recorder thread while the next is planned and applied (the directory's answers
        and the database's writes overlap instead of taking turns). Returns the next jobs."""
        round_ = self._converge(jobs)
        # Claimed before this round is recorded: its subjects are still leased, so the next
        # round cannot take them; a later change to one of them waits for the round after.
        upcoming = [] if stopping else self.claim()
        self._await_recorder()
        if round_ is not None:
            self._prune_if_due(round_)
            self._recording = self._recorder.submit(self._record_round, round_)
        return upcoming

    def _converge(self, jobs: list[ProvisioningJob]) -> _Round | None:
        """Plan and apply one claimed batch; None when the directory was away (the jobs
        were put back with a backoff)."""
        started = time.monotonic()
        by_subject: dict[uuid.UUID, list[ProvisioningJob]] = defaultdict(list)
        for job in jobs:
            by_subject[job.subject_id].append(job)
        subjects = list(by_subject)
        try:
            try:  # a read transaction: other workers plan meanwhile
                with self.db.reading() as session:
                    plans = compute_plans(
                        session,
                        self.connector,
                        self.rules,
                        subjects,
                        base_dn=self.base_dn,
                        issue_usernames=False,
                    )
            except UsernamesNeeded:  # rows from before usernames were issued at creation
                with self.db.transaction() as session:
                    plans = compute_plans(
                        session, self.connector, self.rules, subjects, base_dn=self.base_dn
                    )
            held = self.guard.hold(self.db, plans) if self.guard else set()
            to_apply = [p for p in plans if p.person_id not in held]
            if time.monotonic() - started > self.settings.lease_s / 3:
                self._renew([j.id for j in jobs])
            apply_plans(self.connector, to_apply)
        except TargetUnavailable as exc:
            self.connector.close()
            log.warning("directory unavailable; %d jobs will be retried: %s", len(jobs), exc)
            self._record_batch_failure(jobs, exc)
            return None
        return _Round(jobs, by_subject, plans, held, to_apply, started)

    def _record_round(self, r: _Round) -> None:
        # The directory already holds the round's writes: record them once the database
        # is back, rather than leave the jobs leased until their lease runs out.
        for delay in (*RECORD_RETRY_DELAYS_S, None):
            try:
                self._record(r)
                break
            except OperationalError as exc:  # connection lost, server restarting, locked
                if delay is None:
                    raise
                log.warning(
                    "recording a round failed (%s); again in %.2f s", type(exc.orig).__name__, delay
                )
                time.sleep(delay)
        log.info(
            "converged %d people in %.0f ms",
            len(r.plans),
            (time.monotonic() - r.started) * 1000,
            extra={"jobs": len(r.jobs), "held": len(r.held), "worker": self.worker_id},
        )

    def _prune_if_due(self, r: _Round) -> None:
        if any(op.kind in _LEAVES_OUS for p in r.to_apply for op in p.operations):
            self._prune_due = True
            if time.monotonic() >= self._next_prune:
                self.prune()

    def _await_recorder(self) -> None:
        """Wait until the previous round's record is committed or has failed. A failed
        record is logged, not raised: its jobs stay leased and are converged again when
        the lease ends, and the rounds after it go on."""
        recording, self._recording = self._recording, None
        if recording is None:
            return
        try:
            recording.result()
        except Exception:  # noqa: BLE001 - see above
            log.exception("recording a round failed; its jobs are retried after their lease")

    def sweep(self) -> int:
        """Queue the people whose dates (start, end, retention) were reached since last
        time, apply the change sets whose effective date came, remove emptied OUs."""
        with self.db.transaction() as session:
            count = sweep(session, self.rules)
            ctx = HrContext(
                session, self.audit, self.actor, naming_pattern=self.rules.naming.pattern
            )
            applied = changesets.apply_due(ctx, dt.date.today())
        if count:
            log.info("daily sweep queued %d people", count)
        if applied:
            log.info("applied %d scheduled change sets", len(applied))
        self.prune()
        return count

    def prune(self) -> list[str]:
        """Remove the OUs that reorganisations and moves left empty (audited)."""
        self._prune_due = False
        self._next_prune = time.monotonic() + PRUNE_EVERY_S
        try:
            removed = prune_containers(self.db, self.connector, self.base_dn)
        except TargetUnavailable:
            return []
        if removed:
            with self.db.transaction() as session:
                self.audit.record_many(
                    session,
                    actor=self.actor,
                    changes=[
                        Change("directory.remove_container", "container", None, before={"dn": dn})
                        for dn in removed
                    ],
                    reason="its unit is retired or placed elsewhere, and it is empty",
                )
            log.info("removed %d emptied OUs", len(removed))
        return removed

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set; the round in progress always finishes first and is
        recorded, and jobs already claimed for the next round are converged too."""
        log.info("worker %s started", self.worker_id)
        idle = self.settings.poll_interval_s
        next_sweep = 0.0
        upcoming: list[ProvisioningJob] = []
        while not stop.is_set() or upcoming:
            try:
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + SWEEP_EVERY_S
                if not self.pipelined:
                    done = self.run_once()
                else:
                    jobs = upcoming or self.claim()
                    done = len(jobs)
                    if jobs:
                        upcoming = self._pipelined_round(jobs, stopping=stop.is_set())
                    else:
                        self._await_recorder()
                        if self._prune_due:  # the queue ran dry
                            self.prune()
            except Exception:  # noqa: BLE001 - a worker must survive a bad round
                log.exception("worker round failed")
                done, upcoming = 0, []  # claimed jobs are taken again when their lease ends
                stop.wait(1.0)
            if done == 0:
                self._wakeup.wait(idle, stop)
        self._await_recorder()
        self._recorder.shutdown()
        self._wakeup.close()
        self.connector.close()
        log.info("worker %s stopped", self.worker_id)

    # -- recording ----------------------------------------------------------------------
    def _backoff(self, attempts: int) -> dt.timedelta:
        delay = min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** (attempts - 1))
        return dt.timedelta(seconds=delay * random.uniform(0.5, 1.5))

    def _requeue_failed(
        self, session: Session, jobs: list[ProvisioningJob], error: ConnectorError
    ) -> tuple[str, bool]:
        """Jobs whose subject failed: retried later, or parked when retrying cannot help.
        Returns the message recorded and whether they were parked."""
        message = f"{type(error).__name__}: {error}"
        self._requeue(session, jobs, message, park=not error.retry)
        return message, any(j.state == JobState.FAILED for j in jobs)

    def _requeue(
        self,
        session: Session,
        jobs: Sequence[ProvisioningJob],
        error: str,
        park: bool,
        queued_again: AbstractSet[uuid.UUID] | None = None,
    ) -> None:
        """Back to the queue with a backoff, or parked as failed when retrying cannot help;
        the job of a subject a later change queued again is dropped instead.

        A directory that is away never parks a job: it converges when the directory is back.
        `queued_again` (from `_queued_again`) lets a caller with many groups of jobs look
        them all up at once.
        """
        if queued_again is None:
            queued_again = set() if park else self._queued_again(session, jobs)
        for job in jobs:
            if not park and job.subject_id in queued_again:
                session.delete(job)
                continue
            if park:
                job.state = JobState.FAILED
            else:
                job.state = JobState.PENDING
                job.next_try_at = utcnow() + self._backoff(job.attempts)
            job.last_error = error[:2000]
            job.lease_owner = None
            job.lease_expires_at = None

    def _queued_again(self, session: Session, jobs: Sequence[ProvisioningJob]) -> set[uuid.UUID]:
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

    def _owned(self, session: Session, jobs: list[ProvisioningJob]) -> list[ProvisioningJob]:
        """Our jobs as they are now; a job whose lease we lost belongs to someone else."""
        rows = session.scalars(
            select(ProvisioningJob).where(
                among(session, ProvisioningJob.id, [j.id for j in jobs]),
                ProvisioningJob.lease_owner == self.worker_id,
            )
        )
        return list(rows)

    def _links(self, session: Session, person_ids: list[uuid.UUID]) -> dict[uuid.UUID, AccountLink]:
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

    def _record_batch_failure(self, jobs: list[ProvisioningJob], exc: ConnectorError) -> None:
        with self.db.transaction() as session:
            owned = self._owned(session, jobs)
            links = self._links(session, sorted({j.subject_id for j in owned}))
            self._requeue(session, owned, str(exc), park=False)
            for job in owned:
                link = links[job.subject_id]
                link.state = LinkState.FAILED if job.state == JobState.FAILED else LinkState.PENDING
                link.last_error = str(exc)[:2000]

    def _record(self, r: _Round) -> None:
        """One transaction for the round: links, audit events and finished jobs, set-based.

        The common case (converged) is written with a few multi-row statements; plans that
        failed or were held go through the per-job path, which requeues or parks them.
        """
        now = utcnow()
        claimed = {j.id for j in r.jobs}
        # Built before the write transaction (other writers wait while it is open), on the
        # assumption that this worker still owns every job it claimed; rebuilt if not.
        rows = self._record_rows(r, claimed, now)
        with self.db.transaction() as session:
            owned = set(
                session.scalars(
                    select(ProvisioningJob.id).where(
                        among(session, ProvisioningJob.id, claimed),
                        ProvisioningJob.lease_owner == self.worker_id,
                    )
                )
            )
            if owned != claimed:  # a lease ran out meanwhile: only what is still ours
                rows = self._record_rows(r, owned, now)
            upsert_links(session, rows.links)
            self.audit.record_many(session, actor=self.actor, changes=rows.changes, reason=None)
            if rows.troubled:
                self._record_troubled(session, r.by_subject, rows.troubled, r.held, owned)
            after_directory_converge(session, rows.converged, self.then, rules=self.rules)
            if rows.done:  # one statement, not one DELETE per job
                session.execute(
                    delete(ProvisioningJob)
                    .where(among(session, ProvisioningJob.id, rows.done))
                    .execution_options(synchronize_session=False)
                )
        if self.on_disabled is not None:  # after the record is committed
            self._end_access_of_disabled(r.plans, r.held)

    def _record_rows(self, r: _Round, owned: set[int], now: dt.datetime) -> _RecordRows:
        """What a round's record writes for the jobs in `owned`: finished jobs, links,
        audit events (their snapshots encoded here), and the plans that need more."""
        # People with no plan no longer exist: their jobs are done, nothing to converge.
        missing = set(r.by_subject) - {p.person_id for p in r.plans}
        rows = _RecordRows(done=[j.id for s in missing for j in r.by_subject[s] if j.id in owned])
        for p in r.plans:
            if p.person_id in r.held or p.error is not None:
                rows.troubled.append(p)
                continue
            rows.converged.append(p)
            jobs = [j for j in r.by_subject[p.person_id] if j.id in owned]
            rows.done.extend(j.id for j in jobs)
            absent = p.desired.state is AccountState.ABSENT
            rows.links.append(
                {
                    "person_id": p.person_id,
                    "target": self.target,
                    "state": LinkState.ABSENT if absent else LinkState.IN_SYNC,
                    "name": None if absent else p.desired.name,
                    "enabled": p.desired.state is AccountState.ENABLED,
                    "last_error": None,
                    "last_converged_at": now,
                    "updated_at": now,
                }
            )
            if p.operations:
                rows.changes.append(
                    Change(
                        audit_action(p),
                        "account",
                        p.person_id,
                        after=encode(summary(p)),
                        reason="; ".join(sorted({j.reason for j in jobs})) or None,
                        actor=self._actor_for(jobs),
                    )
                )
        return rows

    def _actor_for(self, jobs: list[ProvisioningJob]) -> Actor:
        """The worker, carrying the HR request that caused the converge (if any)."""
        request_id = next((j.request_id for j in jobs if j.request_id), None)
        return Actor("system", self.actor.id, request_id=request_id)

    def _end_access_of_disabled(self, plans: list[PersonPlan], held: set[uuid.UUID]) -> None:
        disabled = [
            p.person_id
            for p in plans
            if p.error is None
            and p.person_id not in held
            and p.desired.state is not AccountState.ENABLED
        ]
        if not disabled or self.on_disabled is None:
            return
        try:
            self.on_disabled(disabled, self.actor)
        except Exception:  # noqa: BLE001 - the converge is recorded; sign-on retries next time
            log.exception("ending sign-on access of %d disabled people failed", len(disabled))

    def _record_troubled(
        self,
        session: Session,
        by_subject: dict[uuid.UUID, list[ProvisioningJob]],
        plans: list[PersonPlan],
        held: set[uuid.UUID],
        owned_ids: set[int],
    ) -> None:
        """Held or failed plans: their jobs wait, are retried with a backoff, or are parked."""
        wanted = [j.id for p in plans for j in by_subject[p.person_id] if j.id in owned_ids]
        owned = {
            j.id: j
            for j in session.scalars(
                select(ProvisioningJob).where(among(session, ProvisioningJob.id, wanted))
            )
        }
        links = self._links(session, [p.person_id for p in plans])
        retried = [
            owned[j.id]
            for p in plans
            if p.person_id not in held and p.error is not None and p.error.retry
            for j in by_subject[p.person_id]
            if j.id in owned
        ]
        queued_again = self._queued_again(session, retried)
        for p in plans:
            jobs = [owned[j.id] for j in by_subject[p.person_id] if j.id in owned]
            link = links[p.person_id]
            if p.person_id in held:
                for job in jobs:
                    job.state = JobState.HELD
                    job.last_error = "held by the mass-change guard: confirm to proceed"
                    job.lease_owner = job.lease_expires_at = None
                link.state = LinkState.PENDING
                link.last_error = "held by the mass-change guard"
                continue
            error = p.error
            assert error is not None
            message = f"{type(error).__name__}: {error}"
            self._requeue(session, jobs, message, park=not error.retry, queued_again=queued_again)
            parked = any(j.state == JobState.FAILED for j in jobs)
            link.state = LinkState.FAILED if parked else LinkState.PENDING
            link.last_error = f"{type(error).__name__}: {error}"[:2000]
            if parked:
                self.audit.record(
                    session,
                    actor=self._actor_for(jobs),
                    action="account.failed",
                    object_type="account",
                    object_id=p.person_id,
                    after={**summary(p), "error": link.last_error},
                    reason="; ".join(sorted({j.reason for j in jobs})) or None,
                )


def upsert_links(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or update account links by (person, target) in one statement."""
    if not rows:
        return
    statement = upsert(session, AccountLink.__table__)
    columns = ("state", "name", "enabled", "last_error", "last_converged_at", "updated_at")
    statement = statement.on_conflict_do_update(
        index_elements=["person_id", "target"],
        set_={column: statement.excluded[column] for column in columns},
    )
    session.execute(statement, rows)
