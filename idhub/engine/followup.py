"""What follows a successful directory converge, in the same transaction as its record.

* the primary mail addresses written are recorded (old ones become aliases for a while:
  see mailfacts);
* targets that read the directory (the mail server: Postfix and Dovecot look accounts
  up in LDAP) get a "converge subject S on target T" job for every person whose entry
  changed, so they converge from the directory's new state, never ahead of it;
* the seat mailboxes (targets/seat_facts.py) of the posts those people hold or held get
  a job on the directory target (their entry; it then queues their mailbox on the mail
  target), so a handover moves the seat's readers with it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

from sqlalchemy.orm import Session

from idhub.changes.outbox import enqueue
from idhub.engine.plans import PersonPlan
from idhub.engine.targets.mail_facts import record_addresses
from idhub.engine.targets.seat_facts import SEAT_MAIL_TARGET, queue_seats
from provisioning.rules import Rules

ENTRY_CHANGED = "the directory entry changed"
"""The reason of a chained job (the mail worker then refreshes Dovecot's cached lookup)."""


def after_directory_converge(
    session: Session,
    converged: Sequence[PersonPlan],
    then: Sequence[str],
    today: dt.date | None = None,
    *,
    rules: Rules | None = None,
    urgent: AbstractSet[uuid.UUID] = frozenset(),
) -> None:
    """`urgent`: the people whose converge was urgent (their onward jobs are too)."""
    if not converged:
        return
    record_addresses(session, converged, today or dt.date.today())
    for is_urgent in (True, False):  # a seat queued by both stays urgent (coalescing)
        plans = [p for p in converged if (p.person_id in urgent) is is_urgent]
        if plans:
            _queue_onward(session, plans, then, rules, urgent=is_urgent)


def _queue_onward(
    session: Session,
    converged: Sequence[PersonPlan],
    then: Sequence[str],
    rules: Rules | None,
    *,
    urgent: bool,
) -> None:
    changed = [p.person_id for p in converged if p.operations]
    if then and changed:
        enqueue(session, changed, ENTRY_CHANGED, targets=then, urgent=urgent)
    if rules is not None and SEAT_MAIL_TARGET in then:  # seats exist for their mailbox
        # every converge, not only changed entries: a handover may change no entry
        queue_seats(
            session,
            rules,
            [p.person_id for p in converged],
            usernames=(v for p in converged for v in p.desired.attributes.get("uid", ())),
            urgent=urgent,
        )
