"""The directory as the worker loop's target (engine/target.py): plan a round of people
with compute_plans (targets/ldap.py), apply it in one batch, record it set-based. It is
the directory's only writer: seat mailboxes' entries are converged here too (their jobs
are rare; targets/seat_entries.py), before the mail target makes their mailboxes.

What follows a converge (mail and seat jobs, recorded addresses) is queued in the same
transaction as its record (engine/followup.py), as urgent as the converge that caused
it; people converged to disabled lose their sign-on once the record is committed
(`on_disabled`, wired in by `idhub worker`), and their mail logins as soon as the
directory took the change (`on_cut`: Dovecot's cache flushed and sessions kicked before
the round is even recorded; the mail target's own job follows as usual).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import OpKind, TargetUnavailable
from idhub.changes.chain import Actor, AuditLog, Change, encode
from idhub.changes.guard import Guard
from idhub.db import Database, among
from idhub.engine.containers import prune_containers
from idhub.engine.followup import after_directory_converge
from idhub.engine.jobs import JobQueue, upsert_links
from idhub.engine.plans import PersonPlan
from idhub.engine.target import Recording, Round, error_text, urgent_subjects
from idhub.engine.targets.app_passwords import apply_mail_credentials
from idhub.engine.targets.ldap import (
    TARGET,
    DirectoryPlans,
    UsernamesNeeded,
    apply_plans,
    audit_action,
    compute_plans,
    summary,
)
from idhub.engine.targets.passwords import clear_pending_passwords, with_pending_passwords
from idhub.engine.targets.seat_entries import plan_entries, record_entries
from idhub.engine.targets.seats import SeatEntryPlan, apply_seat_entries
from idhub.models import AccountLink, JobState, LinkState, Seat
from idhub.services import Directory
from provisioning.model import AccountState
from provisioning.rules import Rules

log = logging.getLogger(__name__)
# While a reorganisation streams through, emptied OUs are looked for at most this often
# (each look scans the OUs), and once more when the queue runs dry.
PRUNE_EVERY_S = 2.0
_LEAVES_OUS = (OpKind.MOVE, OpKind.RENAME, OpKind.DELETE)  # may leave an OU empty


@dataclass
class _Draft:
    """What a round's record writes, built before its transaction."""

    done: list[int]
    links: list[dict[str, Any]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    troubled: list[PersonPlan] = field(default_factory=list)
    converged: list[PersonPlan] = field(default_factory=list)


class DirectoryTarget:
    name = TARGET
    system = "directory"
    subjects = "people"
    pipelined = True  # the directory's answers and the database's writes overlap

    def __init__(
        self,
        connector: Directory,
        rules: Rules,
        *,
        base_dn: str,
        guard: Guard | None = None,
        then: tuple[str, ...] = (),
        on_disabled: Callable[[list[uuid.UUID], Actor], object] | None = None,
        on_cut: Callable[[list[PersonPlan]], object] | None = None,
    ) -> None:
        self.connector = connector
        self.rules = rules
        self.base_dn = base_dn
        self.guard = guard
        # Targets converged after the directory, from it (e.g. "mail": Dovecot reads LDAP).
        self.then = then
        # Sign-on: ends the sessions and tokens of people converged to disabled.
        self.on_disabled = on_disabled
        # Mail: shuts out, at once, the people whose disable the directory just took.
        self.on_cut = on_cut
        self._prune_due = False  # a round moved people out of OUs since the last prune
        self._next_prune = 0.0
        self._seats_ou_exists = False  # ou=seats was there or made by an earlier round

    def attach(self, db: Database, audit: AuditLog, actor: Actor) -> None:
        self.db, self.audit, self.actor = db, audit, actor

    # -- plan and apply -------------------------------------------------------------------
    def plan(self, db: Database, round_: Round) -> DirectoryPlans:
        subjects = list(round_.by_subject)
        try:
            try:  # a read transaction: other workers plan meanwhile
                with db.reading() as session:
                    plans = compute_plans(
                        session,
                        self.connector,
                        self.rules,
                        subjects,
                        base_dn=self.base_dn,
                        issue_usernames=False,
                    )
                    with_pending_passwords(session, plans)
            except UsernamesNeeded:  # rows from before usernames were issued at creation
                with db.transaction() as session:
                    plans = compute_plans(
                        session, self.connector, self.rules, subjects, base_dn=self.base_dn
                    )
                    with_pending_passwords(session, plans)
            held = self.guard.hold(db, plans) if self.guard else set()
            seats = self._plan_seats(db, set(subjects) - {p.person_id for p in plans})
        except TargetUnavailable:
            self.connector.close()
            raise
        return DirectoryPlans(plans, held, [p for p in plans if p.person_id not in held], seats)

    def _plan_seats(self, db: Database, others: set[uuid.UUID]) -> list[SeatEntryPlan]:
        """The entries of the seats among the subjects that are not people."""
        if not others:
            return []
        with db.reading() as session:
            return plan_entries(
                session,
                self.connector,
                self.rules,
                sorted(others),
                base_dn=self.base_dn,
                seats_ou_exists=self._seats_ou_exists,
            )

    def apply(self, plans: DirectoryPlans) -> None:
        try:
            apply_plans(self.connector, plans.to_apply)
            apply_mail_credentials(self.connector, plans.to_apply)  # app passwords
            cut = [p for p in plans.to_apply if p.error is None and p.disables]
            if cut and self.on_cut is not None:
                self.on_cut(cut)
            if plans.seats:
                apply_seat_entries(self.connector, plans.seats)
                self._seats_ou_exists |= any(p.error is None for p in plans.seats)
        except TargetUnavailable:
            self.connector.close()
            raise

    def after_apply(self, round_: Round) -> None:
        if any(op.kind in _LEAVES_OUS for p in round_.plans.to_apply for op in p.operations):
            self._prune_due = True
            if time.monotonic() >= self._next_prune:
                self.tidy()

    # -- record -----------------------------------------------------------------------------
    def draft(self, round_: Round, owned: set[int], now: dt.datetime) -> _Draft:
        """Finished jobs, links, audit events (their snapshots encoded here) for the jobs
        in `owned`, and the plans that need more."""
        r: DirectoryPlans = round_.plans
        by_subject = round_.by_subject
        # People with no plan no longer exist: their jobs are done, nothing to converge.
        # Seats are recorded by `record` (record_entries).
        missing = set(by_subject) - {p.person_id for p in r.plans} - {p.seat_id for p in r.seats}
        draft = _Draft(done=[j.id for s in missing for j in by_subject[s] if j.id in owned])
        for p in r.plans:
            if p.person_id in r.held or p.error is not None:
                draft.troubled.append(p)
                continue
            draft.converged.append(p)
            jobs = [j for j in by_subject[p.person_id] if j.id in owned]
            draft.done.extend(j.id for j in jobs)
            absent = p.desired.state is AccountState.ABSENT
            draft.links.append(
                {
                    "person_id": p.person_id,
                    "target": self.name,
                    "state": LinkState.ABSENT if absent else LinkState.IN_SYNC,
                    "name": None if absent else p.desired.name,
                    "enabled": p.desired.state is AccountState.ENABLED,
                    "last_error": None,
                    "last_converged_at": now,
                    "updated_at": now,
                }
            )
            if p.operations:
                request_id = next((j.request_id for j in jobs if j.request_id), None)
                draft.changes.append(
                    Change(
                        audit_action(p),
                        "account",
                        p.person_id,
                        after=encode(summary(p)),
                        reason="; ".join(sorted({j.reason for j in jobs})) or None,
                        actor=Actor("system", self.actor.id, request_id=request_id),
                    )
                )
        return draft

    def record(self, rec: Recording, draft: _Draft) -> None:
        """Links, audit events and follow-up jobs, set-based for the common case
        (converged); plans that failed or were held are requeued or parked one by one."""
        session = rec.session
        upsert_links(session, draft.links)
        self.audit.record_many(session, actor=rec.actor, changes=draft.changes, reason=None)
        if draft.troubled:
            self._record_troubled(rec, draft.troubled)
        after_directory_converge(
            session, draft.converged, self.then, rules=self.rules, urgent=urgent_subjects(rec)
        )
        clear_pending_passwords(session, draft.converged)
        rec.done.extend(draft.done)
        seats: list[SeatEntryPlan] = rec.round.plans.seats
        if seats:
            record_entries(rec, seats, self.audit, then=self.then)

    def _record_troubled(self, rec: Recording, plans: list[PersonPlan]) -> None:
        """Held or failed plans: their jobs wait, are retried with a backoff, or are parked."""
        session, held = rec.session, rec.round.plans.held
        owned = rec.queue.load(session, [j.id for p in plans for j in rec.jobs_of(p.person_id)])
        links = rec.queue.links(session, [p.person_id for p in plans])
        retried = [
            owned[j.id]
            for p in plans
            if p.person_id not in held and p.error is not None and p.error.retry
            for j in rec.jobs_of(p.person_id)
            if j.id in owned
        ]
        queued_again = rec.queue.queued_again(session, retried)
        for p in plans:
            jobs = [owned[j.id] for j in rec.jobs_of(p.person_id) if j.id in owned]
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
            _, parked = rec.queue.requeue_failed(session, jobs, error, queued_again)
            link.state = LinkState.FAILED if parked else LinkState.PENDING
            link.last_error = error_text(error)
            if parked:
                self.audit.record(
                    session,
                    actor=rec.actor_for(jobs),
                    action="account.failed",
                    object_type="account",
                    object_id=p.person_id,
                    after={**summary(p), "error": link.last_error},
                    reason="; ".join(sorted({j.reason for j in jobs})) or None,
                )

    def holders(
        self, session: Session, queue: JobQueue, subjects: list[uuid.UUID]
    ) -> dict[uuid.UUID, AccountLink | Seat]:
        """Links for people, the seat rows for seats."""
        found = session.scalars(select(Seat).where(among(session, Seat.id, subjects)))
        seats = {s.id: s for s in found}
        people = [s for s in subjects if s not in seats]
        return {**seats, **queue.links(session, people)}

    def after_record(self, round_: Round) -> None:
        """Sign-on: the people converged to disabled lose their sessions and tokens."""
        if self.on_disabled is None:
            return
        r: DirectoryPlans = round_.plans
        disabled = [
            p.person_id
            for p in r.plans
            if p.error is None
            and p.person_id not in r.held
            and p.desired.state is not AccountState.ENABLED
        ]
        if not disabled:
            return
        try:
            self.on_disabled(disabled, self.actor)
        except Exception:  # noqa: BLE001 - the converge is recorded; sign-on retries next time
            log.exception("ending sign-on access of %d disabled people failed", len(disabled))

    # -- housekeeping -----------------------------------------------------------------------
    def idle(self) -> None:
        if self._prune_due:  # the queue ran dry: the OUs the last rounds emptied
            self.tidy()

    def tidy(self) -> list[str]:
        """Remove the OUs that reorganisations and moves left empty (audited): when the
        clock ticks, when the queue runs dry, and at most every PRUNE_EVERY_S while moves
        stream."""
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

    def close(self) -> None:
        self.connector.close()
