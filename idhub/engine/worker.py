"""`idhub worker`'s loop: claims a target's jobs with a lease, converges them in rounds,
records why. Written once for every target (engine/target.py; targets in engine/targets/).

* The jobs: engine/jobs.py (claims, leases, backoff, parking).
* The target is read and written with no database transaction open.
* Pipelined targets (the directory): a round is recorded in a recorder thread while the
  next one is planned and applied, so the target's answers and the database's writes
  overlap instead of taking turns.
* Failures: the target being away → the round's jobs go back as they were, and the
  worker claims nothing for that target until its health check answers (engine/outage.py:
  one probe with one backoff, one warning and one summary per outage); then the jobs run
  at once, harmlessly, because converge recomputes from the truth. Data the target
  refuses → backed off, then parked as failed, visible in the API; after max_attempts →
  failed.
  The database going away after the target took a round's writes → the round is recorded
  again after RECORD_RETRY_DELAYS_S, well inside the lease.
* SIGTERM/SIGINT: the round in progress finishes and is recorded, then the worker exits.
* An idle worker wakes on NOTIFY (PostgreSQL) or polls (SQLite); periodic tasks given
  from above (idhub/scheduler) run on their clock.
* Lanes (engine/jobs.py Lane): a worker alone on its target claims urgent jobs first; `idhub
  worker` runs an urgent lane beside each target's bulk worker, so cutting access starts
  within one poll even while a round of bulk work (seconds on the mail server) runs.
  The urgent lane leaves the clock and housekeeping to the bulk worker. Within one
  process, while an urgent lane claims, plans and applies, the bulk lanes beside it
  start no new round and open no record (`URGENT_WORK`, at most HOLD_BULK_S at a time):
  the urgent round has the interpreter and SQLite's write lock to itself instead of
  taking turns with rounds of bulk work.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, fields

from sqlalchemy.exc import OperationalError

from connectors.base import TargetUnavailable
from idhub.changes.chain import Actor, AuditLog
from idhub.changes.wakeup import Wakeup
from idhub.db import Database
from idhub.engine.jobs import JobQueue, Lane
from idhub.engine.outage import OutageWatch
from idhub.engine.periodic import Clock, Periodic
from idhub.engine.target import Recording, Round, Target, by_subject
from idhub.metrics import CONVERGE_SECONDS, TARGET_ERRORS
from idhub.models import JobState, LinkState, ProvisioningJob, utcnow
from idhub.services import ProvisioningSettings

__all__ = ["RECORD_RETRY_DELAYS_S", "Lane", "Worker", "WorkerSettings", "new_worker_id"]

log = logging.getLogger(__name__)
TIDY_EVERY_S = 60.0  # the target's housekeeping, besides when the queue runs dry
# Pauses before recording a round again when the database went away (a restart or a
# failover takes seconds); together well inside a lease, so the jobs are still ours.
RECORD_RETRY_DELAYS_S = (0.25, 0.5, 1.0, 2.0, 4.0)
HOLD_BULK_S = 2.0  # the longest a bulk lane waits for urgent work at one step


class UrgentWork:
    """How many urgent lanes of this process are at work; bulk lanes wait for none."""

    def __init__(self) -> None:
        self._working = 0
        self._idle = threading.Condition()

    def begin(self) -> None:
        with self._idle:
            self._working += 1

    def end(self) -> None:
        with self._idle:
            self._working -= 1
            if not self._working:
                self._idle.notify_all()

    def wait(self, timeout: float = HOLD_BULK_S) -> None:
        """Until no urgent lane is at work, or `timeout` (bulk work is never starved)."""
        with self._idle:
            self._idle.wait_for(lambda: not self._working, timeout)


URGENT_WORK = UrgentWork()


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 200
    poll_interval_s: float = 0.05
    lease_s: float = 30.0
    max_attempts: int = 8
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0

    @classmethod
    def from_settings(cls, section: ProvisioningSettings) -> WorkerSettings:
        """The loop's share of [provisioning], whose keys have the same names."""
        return cls(**{spec.name: getattr(section, spec.name) for spec in fields(cls)})


def new_worker_id(prefix: str = "") -> str:
    """A worker's lease owner and actor id: host, process, a few random characters."""
    return f"{prefix}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """The loop for one target: `run` until stopped, or `run_once` for one round."""

    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        target: Target,
        *,
        settings: WorkerSettings,
        worker_id: str | None = None,
        periodic: Sequence[Periodic] = (),
        lane: Lane = Lane.ALL,
    ) -> None:
        self.db = db
        self.audit = audit
        self.target = target
        self.settings = settings
        self.worker_id = worker_id or new_worker_id()
        self.actor = Actor("system", f"worker {self.worker_id}")
        self.lane = lane
        self.jobs = JobQueue(db, target.name, self.worker_id, settings, lane)
        self.clock = Clock(periodic)
        self.outage = OutageWatch(target.system, target.connector, self.jobs.waiting)
        target.attach(db, audit, self.actor)
        # Starts its thread on the first submit: workers that never `run` start none.
        self._recorder = ThreadPoolExecutor(1, thread_name_prefix="idhub-recorder")
        self._recording: Future[None] | None = None
        self._wakeup = Wakeup(db.engine)  # an idle worker wakes when jobs are queued

    def claim(self) -> list[ProvisioningJob]:
        self._hold_for_urgent()
        return self.jobs.claim()

    # -- rounds -----------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim a batch, converge it, record the outcome; returns the number of jobs.
        While the target is known to be away, probe it first: 0 if it still is."""
        if self.outage.away and not self.outage.probe():
            return 0
        jobs = self.claim()
        if not jobs:
            self.outage.succeeded()
            self.target.idle()
            return 0
        round_ = self._converge(jobs)
        if round_ is not None:
            self.target.after_apply(round_)
            self._record_round(round_)
        return len(jobs)

    def _pipelined_round(
        self, jobs: list[ProvisioningJob], stopping: bool
    ) -> list[ProvisioningJob]:
        """`run`'s round: converge `jobs`, claim the next round's, and record this one in
        the recorder thread while the next is planned and applied. Returns the next jobs."""
        round_ = self._converge(jobs)
        # Claimed before this round is recorded: its subjects are still leased, so the next
        # round cannot take them; a later change to one of them waits for the round after.
        # Nothing is claimed for a target that has just gone away.
        upcoming = [] if stopping or round_ is None else self.claim()
        self._await_recorder()
        if round_ is not None:
            self.target.after_apply(round_)
            self._recording = self._recorder.submit(self._record_round, round_)
        return upcoming

    def _converge(self, jobs: list[ProvisioningJob]) -> Round | None:
        """Plan and apply one claimed batch; None when the target was away (the jobs were
        handed back, and the worker waits for the target)."""
        self._hold_for_urgent()
        round_ = Round(jobs, by_subject(jobs), time.monotonic())
        try:
            round_.plans = self.target.plan(self.db, round_)
            if time.monotonic() - round_.started > self.settings.lease_s / 3:
                self.jobs.renew([j.id for j in jobs])
            self.target.apply(round_.plans)
        except TargetUnavailable as exc:
            TARGET_ERRORS.labels(self.target.name, type(exc).__name__).inc()
            self.outage.failed(len(jobs), exc)
            self._record_outage(jobs, exc)
            return None
        self.outage.succeeded()
        return round_

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

    # -- the loop ---------------------------------------------------------------------------
    def sweep(self) -> int:
        """Run every periodic task now, then the target's housekeeping; the subjects queued."""
        count = self.clock.run_due(self.actor, all_=True)
        self.target.tidy()
        return count

    def _tick(self, next_tidy: float) -> float:
        """Periodic tasks that are due, then housekeeping; when the next is due."""
        if self.lane is Lane.URGENT:  # the bulk worker beside it keeps the clock
            return next_tidy
        if not self.clock.due() and time.monotonic() < next_tidy:
            return next_tidy
        self.clock.run_due(self.actor)
        self.target.tidy()
        return time.monotonic() + TIDY_EVERY_S

    def run(self, stop: threading.Event) -> None:
        """Loop until `stop` is set; the round in progress always finishes first and is
        recorded, and jobs already claimed for the next round are converged too."""
        log.info("worker %s started", self.worker_id)
        idle = self.settings.poll_interval_s
        next_tidy = 0.0
        upcoming: list[ProvisioningJob] = []
        while not stop.is_set() or upcoming:
            try:
                next_tidy = self._tick(next_tidy)
                if self.outage.away and not upcoming:
                    self._await_recorder()
                    self._await_target(stop)
                    continue
                # An urgent lane holds the bulk lanes back from the moment it sees work.
                urgent = self.lane is Lane.URGENT and bool(upcoming or self.jobs.due())
                if urgent:
                    URGENT_WORK.begin()
                try:
                    done, upcoming = self._step(upcoming, stop)
                finally:
                    if urgent:
                        URGENT_WORK.end()
            except Exception:  # noqa: BLE001 - a worker must survive a bad round
                log.exception("worker round failed")
                done, upcoming = 0, []  # claimed jobs are taken again when their lease ends
                stop.wait(1.0)
            if done == 0:
                self._wakeup.wait(idle, stop)
        self._await_recorder()
        self._recorder.shutdown()
        self._wakeup.close()
        self.target.close()
        log.info("worker %s stopped", self.worker_id)

    def _step(
        self, upcoming: list[ProvisioningJob], stop: threading.Event
    ) -> tuple[int, list[ProvisioningJob]]:
        """One turn of `run`: the jobs done, and those claimed for the next round."""
        if not self.target.pipelined:
            return self.run_once(), []
        jobs = upcoming or self.claim()
        if jobs:
            return len(jobs), self._pipelined_round(jobs, stopping=stop.is_set())
        self.outage.succeeded()
        self._await_recorder()
        self.target.idle()
        return 0, []

    def _hold_for_urgent(self) -> None:
        if self.lane is Lane.BULK:
            URGENT_WORK.wait()

    def close(self) -> None:
        self.target.close()

    def _await_target(self, stop: threading.Event) -> None:
        """The target is away: wait for its next probe (or a stop), then probe it."""
        if not stop.wait(self.outage.seconds_to_probe()):
            self.outage.probe()

    # -- recording --------------------------------------------------------------------------
    def _record_round(self, r: Round) -> None:
        # The target already holds the round's writes: record them once the database is
        # back, rather than leave the jobs leased until their lease runs out.
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
            "converged %d %s in %.0f ms",
            len(r.by_subject),
            self.target.subjects,
            (time.monotonic() - r.started) * 1000,
            extra={"jobs": len(r.jobs), "worker": self.worker_id},
        )

    def _record(self, r: Round) -> None:
        """One transaction for the round: the target's links, audit events and follow-up
        jobs, and the finished jobs deleted."""
        now = utcnow()
        claimed = {j.id for j in r.jobs}
        # Drafted before the write transaction (other writers wait while it is open), on
        # the assumption that this worker still owns every job it claimed; again if not.
        draft = self.target.draft(r, claimed, now)
        self._hold_for_urgent()
        with self.db.transaction() as session:
            owned = self.jobs.owned_ids(session, claimed)
            if owned != claimed:  # a lease ran out meanwhile: only what is still ours
                draft = self.target.draft(r, owned, now)
            rec = Recording(session, r, owned, self.jobs, self.audit, self.actor, now)
            self.target.record(rec, draft)
            self.jobs.finish(session, rec.done)
        self._observe_converged(r, set(rec.done))
        self.target.after_record(r)

    def _observe_converged(self, r: Round, done: set[int]) -> None:
        """Commit to target, for the metrics: each finished job's age, now it is recorded."""
        now = utcnow()
        latency = CONVERGE_SECONDS.labels(self.target.name)
        for job in r.jobs:
            if job.id in done:
                latency.observe(max(0.0, (now - job.created_at).total_seconds()))

    def _record_outage(self, jobs: list[ProvisioningJob], exc: TargetUnavailable) -> None:
        """The target was away: every job back as it was, its subject shown pending."""
        with self.db.transaction() as session:
            owned = self.jobs.owned(session, [j.id for j in jobs])
            holders = self.target.holders(session, self.jobs, sorted({j.subject_id for j in owned}))
            self.jobs.hand_back(session, owned, str(exc))
            for job in owned:
                holder = holders.get(job.subject_id)
                if holder is not None:
                    failed = job.state == JobState.FAILED
                    holder.state = LinkState.FAILED if failed else LinkState.PENDING
                    holder.last_error = str(exc)[:2000]
