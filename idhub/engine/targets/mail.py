"""The mail target: "converge person P on the mail server", after the directory.

Postfix and Dovecot read accounts from the directory, so the directory converge does
most of the work (address, aliases, mailbox location, quota, status, forward or bounce).
Every person whose entry changed gets a job on target "mail" in the same transaction
that records the directory converge (engine/followup.py); this worker claims those jobs
(the same outbox, leases and backoff as the directory worker), recomputes the desired
account from HR with the same pure policy, reads the mailbox (a directory test on the
mail root), plans with provisioning.mailbox and applies with connectors.mail.

Dovecot away → the job waits with backoff and is retried, never parked; the
directory worker is not held up. Reading nothing from the directory here is on
purpose: HR is the truth, and the mailbox location is derived from the person's key.

Seat mailboxes (targets/seats.py) come here once the directory target has converged
their entry; this target never writes the directory.

A leaver is shut out of Dovecot (auth cache flushed, sessions kicked) three times:
by the directory's worker itself as soon as slapd took the disable (`MailCut`, its
`on_cut`: no database write, claim or plan between slapd and Dovecot); by this target
when the directory's change reaches it (recorded and audited); and RECUT_AFTER_S later
(a job of its own, urgent). A login that read the directory before the change (slapd
takes a while over an {ARGON2} bind) can be accepted after the earlier flushes, and
Dovecot would keep that acceptance in its cache for auth_cache_ttl (an hour): the last
flush and kick end it.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors.base import (
    Account,
    AccountKey,
    ConnectorError,
    Operation,
    OpKind,
    Result,
)
from connectors.dn import rdn_value
from idhub.changes.chain import Actor, AuditLog, Change
from idhub.changes.mail_credentials import sessions_ended, sessions_to_end
from idhub.changes.outbox import enqueue
from idhub.db import Database, among
from idhub.engine.followup import ENTRY_CHANGED
from idhub.engine.jobs import JobQueue, enqueue_later, upsert_links
from idhub.engine.plans import PersonPlan
from idhub.engine.target import Recording, Round
from idhub.engine.targets.mail_facts import with_mail_facts
from idhub.engine.targets.seat_facts import SEAT_TARGET, SeatFacts, seat_facts
from idhub.engine.targets.seats import SeatPlan, plan_seat_mailbox, seat_audit_action
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import (
    AccountLink,
    LinkState,
    MailDelegation,
    Person,
    ProvisioningJob,
    Seat,
    Urgency,
)
from idhub.services import Mailboxes
from provisioning.mailbox import plan_delegations, plan_mailbox
from provisioning.model import AccountState, DesiredAccount
from provisioning.policy import desired_account, mailbox_location
from provisioning.rules import Rules
from provisioning.seats import desired_seat

log = logging.getLogger(__name__)
MAIL_TARGET = "mail"
RECUT = "shut out again: a login in flight at the cut-off is ended too"
"""The reason of the job that shuts a leaver out a second time (see the docstring)."""
RECUT_AFTER_S = 3.0
"""How long after the first cut the second one runs: longer than a login that read the
directory before the change takes to finish (its bind, under load)."""
_REFRESHES = frozenset({ENTRY_CHANGED, RECUT})  # reasons to flush Dovecot's lookup again

_AUDIT_ACTIONS = (
    (OpKind.DELETE, "mailbox.archive"),
    (OpKind.CREATE, "mailbox.create"),
    (OpKind.DISABLE, "mailbox.disable"),
    (OpKind.ENABLE, "mailbox.enable"),
    (OpKind.MODIFY, "mailbox.delegation"),
)


@dataclass
class MailPlan:
    person_id: uuid.UUID
    desired: DesiredAccount
    actual: Account | None
    operations: list[Operation]
    results: list[Result] = field(default_factory=list)
    deputies: frozenset[str] = frozenset()  # uids delegated to today
    managed_deputies: frozenset[str] = frozenset()  # every uid ever delegated to
    was_enabled: bool | None = None  # the link's record before this converge

    @property
    def cuts(self) -> bool:
        """Shuts an account out that the mail server still let in (the leaver's cut)."""
        return self.was_enabled is not False and any(
            op.kind is OpKind.DISABLE for op in self.operations
        )

    @property
    def error(self) -> ConnectorError | None:
        return next((r.error for r in self.results if r.error is not None), None)

    @property
    def archive(self) -> str | None:
        return next(
            (r.name for r in self.results if r.operation.kind is OpKind.DELETE and r.name), None
        )


def compute_mail_plans(
    session: Session,
    connector: Mailboxes,
    rules: Rules,
    person_ids: list[uuid.UUID],
    *,
    base_dn: str,
    today: dt.date | None = None,
    entry_changed: frozenset[uuid.UUID] = frozenset(),
    end_sessions: frozenset[uuid.UUID] = frozenset(),
) -> list[MailPlan]:
    """Desired account from HR (the same policy as the directory), the mailbox as it is,
    and the operations between (see provisioning.mailbox)."""
    today = today or dt.date.today()
    people = list(session.scalars(select(Person).where(Person.id.in_(person_ids))))
    people = [p for p in people if p.username]  # the directory worker issues usernames
    snapshots = person_snapshots(session, people, UnitDirectory.load(session), today)
    snapshots = with_mail_facts(session, snapshots, today)
    links = {
        link.person_id: link
        for link in session.scalars(
            select(AccountLink).where(
                AccountLink.person_id.in_([p.id for p in people]),
                AccountLink.target == MAIL_TARGET,
            )
        )
    }
    deputies, managed = _delegations(session, [p.id for p in people], today)
    desired_of = {
        person.id: desired_account(snapshots[person.id], rules, base_dn=base_dn)
        for person in people
    }
    where = {
        AccountKey(str(pid)): (d.attributes.get("idhubMailbox") or (mailbox_location(str(pid)),))[0]
        for pid, d in desired_of.items()
    }
    found = connector.read_locations(list(where.items()))  # one look for the batch
    plans = []
    for person in people:
        desired = desired_of[person.id]
        actual = found.get(AccountKey(str(person.id)))
        link = links.get(person.id)
        operations = plan_mailbox(
            desired,
            actual,
            was_enabled=link.enabled if link else None,
            entry_changed=person.id in entry_changed,
            end_sessions=person.id in end_sessions,
        )
        plans.append(
            MailPlan(
                person.id,
                desired,
                actual,
                operations,
                deputies=deputies.get(person.id, frozenset()),
                managed_deputies=managed.get(person.id, frozenset()),
                was_enabled=link.enabled if link else None,
            )
        )
    return plans


def _delegations(
    session: Session, owner_ids: list[uuid.UUID], today: dt.date
) -> tuple[dict[uuid.UUID, frozenset[str]], dict[uuid.UUID, frozenset[str]]]:
    """Per owner: deputies' uids delegated to today, and every uid ever delegated to."""
    rows = session.execute(
        select(MailDelegation, Person.username)
        .join(Person, Person.id == MailDelegation.deputy_id)
        .where(MailDelegation.owner_id.in_(owner_ids))
    )
    today_: dict[uuid.UUID, set[str]] = defaultdict(set)
    ever: dict[uuid.UUID, set[str]] = defaultdict(set)
    for delegation, username in rows:
        if not username:
            continue
        ever[delegation.owner_id].add(username)
        if delegation.active_on(today):
            today_[delegation.owner_id].add(username)
    return (
        {k: frozenset(v) for k, v in today_.items()},
        {k: frozenset(v) for k, v in ever.items()},
    )


def _with_delegations(connector: Mailboxes, p: MailPlan) -> None:
    """Add the ACL changes for the owner's delegations (reads the ACL: a doveadm call,
    only for owners the hub ever delegated)."""
    if not p.managed_deputies:
        return
    has_box = p.actual is not None or any(op.kind is OpKind.CREATE for op in p.operations)
    if not has_box or p.desired.state is AccountState.ABSENT:
        return
    uid = p.desired.attributes.get("uid", ("",))[0]
    current = connector.read_acl(uid) if p.actual is not None else frozenset()
    mailbox = p.actual or Account(AccountKey(str(p.person_id)), _created(p) or "")
    p.operations.extend(
        plan_delegations(
            p.desired,
            mailbox,
            deputies=p.deputies,
            managed=p.managed_deputies,
            current=current,
        )
    )


class MailCut:
    """The directory target's `on_cut`: the people whose disable (or delete) slapd has
    just taken are shut out of Dovecot at once (auth cache flushed, sessions kicked), in
    one request, before the directory's round is recorded. Nothing is recorded here: the
    mail target's job, queued with that record, converges and audits as usual. Dovecot
    not answering is logged and left to that job, and the next PAUSE_AFTER_FAILURE_S
    skip this step, so an unreachable Dovecot does not hold up the directory's rounds."""

    PAUSE_AFTER_FAILURE_S = 30.0

    def __init__(self, connector: Mailboxes) -> None:
        self.connector = connector
        self.paused_until = 0.0  # monotonic

    def __call__(self, plans: list[PersonPlan]) -> None:
        if time.monotonic() < self.paused_until:
            return
        ops = []
        for p in plans:
            user = p.desired.attributes.get("uid", ()) or ((rdn_value(p.desired.name) or ""),)
            key = AccountKey(str(p.person_id))
            ops.append(Operation(OpKind.DISABLE, key, attributes={"user": user}))
        try:
            failed = [r for r in self.connector.apply(ops) if r.error is not None]
        except ConnectorError as exc:
            self.paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE_S
            log.warning(
                "shutting %d people out of the mail server failed (left to the mail target; "
                "not tried again for %.0f s): %s", len(ops), self.PAUSE_AFTER_FAILURE_S, exc,
            )  # fmt: skip
            return
        for result in failed:
            log.warning("shutting %s out of the mail server failed: %s", result.operation.target,
                        result.error)  # fmt: skip


@dataclass
class MailRound:
    """A round's plans: people's mailboxes, and seat mailboxes (their mailbox and ACL)."""

    plans: list[MailPlan]
    seats: list[SeatPlan]
    # Seats queued here before the directory target wrote their entries: sent there.
    to_directory: list[uuid.UUID] = field(default_factory=list)


class MailTarget:
    """Target "mail" for the worker loop (engine/target.py): people's mailboxes and seats."""

    name = MAIL_TARGET
    system = "mail server"
    subjects = "mailboxes"
    # A round is recorded while the next one is planned and sent to Dovecot (a backlog of
    # thousands of new mailboxes drains in rounds of batch_size).
    pipelined = True

    def __init__(self, connector: Mailboxes, rules: Rules, *, base_dn: str) -> None:
        self.connector = connector
        self.rules = rules
        self.base_dn = base_dn

    def attach(self, db: Database, audit: AuditLog, actor: Actor) -> None:
        self.db, self.audit, self.actor = db, audit, actor

    def plan(self, db: Database, round_: Round) -> MailRound:
        by_subject = round_.by_subject
        r = MailRound([], [])
        with db.transaction() as session:
            r.plans = compute_mail_plans(
                session,
                self.connector,
                self.rules,
                list(by_subject),
                base_dn=self.base_dn,
                entry_changed=frozenset(
                    subject
                    for subject, js in by_subject.items()
                    if any(j.reason in _REFRESHES for j in js)
                ),
                end_sessions=frozenset(sessions_to_end(session, list(by_subject))),
            )
            people = {p.person_id for p in r.plans}
            others = [s for s in by_subject if s not in people]
            if others:
                for facts in seat_facts(session, others, dt.date.today()):
                    self._plan_seat(r, facts)
        return r

    def _plan_seat(self, r: MailRound, facts: SeatFacts) -> None:
        """A seat's mailbox, after its entry's converge (the seat row says what it did).

        The directory target records every entry converge it queues a mail job for
        (entry_version goes up, in the same transaction), and this target marks the
        version it reported (entry_reported). So a mail job finding no entry converge
        unreported was not queued by the directory's seat step: it is one left by an
        earlier version, which queued seats on this target directly (every seat row
        starts at 0 = 0). It goes to the directory first, which converges the entry
        and queues it back here. (A job queued by the directory whose converge an
        earlier mail job already reported goes round too: one idempotent round more.)"""
        row = facts.row
        if row.entry_version <= row.entry_reported:
            r.to_directory.append(row.id)
            return
        desired = desired_seat(facts.snapshot, self.rules, base_dn=self.base_dn)
        kinds = [OpKind(k) for k in row.entry_ops]
        r.seats.append(SeatPlan(facts, desired, kinds, entry_version=row.entry_version))

    def apply(self, r: MailRound) -> None:
        """Every plan's operations, people's and seats', in one batch for the connector
        (one or two requests to Dovecot for the whole round)."""
        for p in r.plans:
            _with_delegations(self.connector, p)
        for seat in r.seats:
            plan_seat_mailbox(self.connector, seat)
        batch: list[tuple[Any, list[Operation]]] = [
            *((p, p.operations) for p in r.plans),
            *((s, s.mail_ops) for s in r.seats),
        ]
        ops = [op for _, plan_ops in batch for op in plan_ops]
        results = iter(self.connector.apply(ops) if ops else [])
        for holder, plan_ops in batch:  # results come back in the order of the operations
            holder.results = [next(results) for _ in plan_ops]

    def draft(self, round_: Round, owned: set[int], now: dt.datetime) -> None:
        return None  # `record` writes the converged set-based, the rest row by row

    def record(self, rec: Recording, draft: None) -> None:
        r: MailRound = rec.round.plans
        session = rec.session
        troubled = [p for p in r.plans if p.error is not None]
        # The jobs handled one by one, as rows of this session (the converged need ids only).
        one_by_one = [*r.to_directory, *(s.seat_id for s in r.seats)]
        one_by_one += [p.person_id for p in troubled]
        owned = rec.queue.load(session, [j.id for s in one_by_one for j in rec.jobs_of(s)])
        done_seats = self._record_seats(rec, owned, r.seats)
        if r.to_directory:  # done here once queued there (the entry, then back here)
            jobs = [owned[j.id] for s in r.to_directory for j in rec.jobs_of(s) if j.id in owned]
            by_cause: dict[tuple[str, bool], set[uuid.UUID]] = defaultdict(set)
            for j in jobs:  # the cause and the urgency, as for any job
                by_cause[(j.reason, j.urgency > Urgency.BULK)].add(j.subject_id)
            for (why, urgent), ids in sorted(by_cause.items()):
                enqueue(session, ids, why, targets=(SEAT_TARGET,), urgent=urgent)
        planned = {p.person_id for p in r.plans} | {p.seat_id for p in r.seats}
        rec.done.extend(
            j.id
            for subject, js in rec.round.by_subject.items()
            if subject not in planned
            for j in js
            if j.id in rec.owned
        )
        rec.done.extend(done_seats)
        self._record_converged(rec, [p for p in r.plans if p.error is None])
        links = rec.queue.links(session, [p.person_id for p in troubled])
        for p in troubled:
            jobs = [owned[j.id] for j in rec.round.by_subject[p.person_id] if j.id in owned]
            link = links[p.person_id]
            reason = "; ".join(sorted({j.reason for j in jobs})) or None
            error = p.error
            assert error is not None
            actor = Actor("system", self.actor.id, request_id=None)
            message, parked = rec.queue.requeue_failed(session, jobs, error)
            link.state = LinkState.FAILED if parked else LinkState.PENDING
            link.last_error = message[:2000]
            if parked:
                self.audit.record(
                    session,
                    actor=actor,
                    action="mailbox.failed",
                    object_type="mailbox",
                    object_id=p.person_id,
                    after={**_summary(p), "error": link.last_error},
                    reason=reason,
                )

    def _record_converged(self, rec: Recording, plans: list[MailPlan]) -> None:
        """Links and audit events of the plans that converged, set-based: one statement
        for the links, one for the events, however many mailboxes the round made."""
        if not plans:
            return
        session = rec.session
        # App passwords revoked: their sessions are ended now (the kick succeeded).
        sessions_ended(
            session,
            [p.person_id for p in plans if any(op.attributes.get("kick") for op in p.operations)],
        )
        known = dict(
            session.execute(
                select(AccountLink.person_id, AccountLink.name).where(
                    among(session, AccountLink.person_id, [p.person_id for p in plans]),
                    AccountLink.target == MAIL_TARGET,
                )
            ).all()
        )
        actor = Actor("system", self.actor.id, request_id=None)
        rows, changes = [], []
        for p in plans:
            jobs = rec.jobs_of(p.person_id)
            rec.done.extend(job.id for job in jobs)
            absent = p.desired.state is AccountState.ABSENT
            has_box = p.actual is not None or any(op.kind is OpKind.CREATE for op in p.operations)
            name = (
                p.archive
                if absent
                else (p.actual.name if p.actual else _created(p) or known.get(p.person_id))
            )
            rows.append(
                {
                    "person_id": p.person_id,
                    "target": MAIL_TARGET,
                    "state": LinkState.ABSENT if absent or not has_box else LinkState.IN_SYNC,
                    "name": name,
                    "enabled": p.desired.state is AccountState.ENABLED,
                    "last_error": None,
                    "last_converged_at": rec.now,
                    "updated_at": rec.now,
                }
            )
            if _worth_auditing(p):
                reason = "; ".join(sorted({j.reason for j in jobs})) or None
                changes.append(
                    Change(
                        _audit_action(p),
                        "mailbox",
                        p.person_id,
                        after=_summary(p),
                        reason=reason,
                        actor=actor,
                    )
                )
        upsert_links(session, rows)
        self.audit.record_many(session, actor=actor, changes=changes, reason=None)
        cut = [p.person_id for p in plans if p.cuts]
        enqueue_later(session, cut, RECUT, target=MAIL_TARGET, delay_s=RECUT_AFTER_S)

    def _record_seats(
        self, rec: Recording, owned: dict[int, ProvisioningJob], plans: list[SeatPlan]
    ) -> list[int]:
        """Seat rows and audit events for the seats converged; the ids of jobs done."""
        session = rec.session
        done: list[int] = []
        for p in plans:
            jobs = [owned[j.id] for j in rec.round.by_subject[p.seat_id] if j.id in owned]
            row = session.get(Seat, p.seat_id)
            if row is None:
                continue
            reason = "; ".join(sorted({j.reason for j in jobs})) or None
            error = p.error
            if error is None:
                done.extend(j.id for j in jobs)
                _reported(session, p)
                before = list(row.holders or [])
                action = seat_audit_action(p, before)
                row.state = LinkState.IN_SYNC.value
                row.enabled = p.desired.state is AccountState.ENABLED
                row.holders = p.granted
                row.last_error = None
                row.last_converged_at = rec.now
                if action is not None:
                    self.audit.record(
                        session,
                        actor=self.actor,
                        action=action,
                        object_type="seat",
                        object_id=p.seat_id,
                        before={"holders": before},
                        after=p.summary(),
                        reason=reason,
                    )
                continue
            message, parked = rec.queue.requeue_failed(session, jobs, error)
            row.state = (LinkState.FAILED if parked else LinkState.PENDING).value
            row.last_error = message[:2000]
            if parked:
                self.audit.record(
                    session,
                    actor=self.actor,
                    action="seat.failed",
                    object_type="seat",
                    object_id=p.seat_id,
                    after={**p.summary(), "error": row.last_error},
                    reason=reason,
                )
        return done

    def holders(
        self, session: Session, queue: JobQueue, subjects: list[uuid.UUID]
    ) -> dict[uuid.UUID, Any]:
        """Links for people, the seat rows for seats."""
        seats = {s.id: s for s in session.scalars(select(Seat).where(Seat.id.in_(subjects)))}
        people = set(session.scalars(select(Person.id).where(Person.id.in_(subjects))))
        return {**seats, **queue.links(session, sorted(people))}

    def after_apply(self, round_: Round) -> None:
        pass

    def after_record(self, round_: Round) -> None:
        pass

    def idle(self) -> None:
        pass

    def tidy(self) -> None:
        """Dates are swept for the directory; its converges queue mail jobs."""

    def close(self) -> None:
        self.connector.close()


def _reported(session: Session, p: SeatPlan) -> None:
    """The entry's operations are reported (the seat's audit event): clear them, unless
    the directory target recorded another entry converge since they were read — that
    one's mail job, queued with it, reports them all."""
    session.execute(
        update(Seat)
        .where(Seat.id == p.seat_id, Seat.entry_version == p.entry_version)
        .values(entry_ops=[], entry_reported=p.entry_version)
        .execution_options(synchronize_session=False)
    )


def _worth_auditing(p: MailPlan) -> bool:
    """A plan that only refreshed Dovecot's cache (a MODIFY without grants, a DISABLE of
    an account already shut out) changes nothing worth an audit event."""
    return any(
        (op.kind is not OpKind.MODIFY or "acl_grant" in op.attributes)
        and (op.kind is not OpKind.DISABLE or p.was_enabled is not False)
        for op in p.operations
    )


def _created(p: MailPlan) -> str | None:
    return next((op.name for op in p.operations if op.kind is OpKind.CREATE), None)


def _audit_action(p: MailPlan) -> str:
    kinds = {op.kind for op in p.operations}
    return next((action for kind, action in _AUDIT_ACTIONS if kind in kinds), "mailbox.update")


def _summary(p: MailPlan) -> dict:
    acl = {
        key: sorted({d for op in p.operations for d in op.attributes.get(key, ())})
        for key in ("acl_grant", "acl_revoke")
    }
    return {
        "state": p.desired.state.value,
        "operations": [op.kind.value for op in p.operations],
        **{key: value for key, value in acl.items() if value},
        **({"archive": p.archive} if p.archive else {}),
    }
