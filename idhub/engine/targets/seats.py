"""Converge a seat mailbox in two steps: its directory entry, then its mailbox and ACL.

1. The directory target (targets/directory.py, the directory's only writer) converges
   the seat's entry (provisioning.seats.desired_seat → planner → its connector) for jobs
   "converge seat S on target ldap", and in the transaction that records it adds what
   it did to the seat row (`entry_ops`, `entry_version`: models/mail.py) and queues the
   seat on the mail target: Postfix and Dovecot must find the entry before a mailbox
   can be made for it.
2. The mail target (targets/mail.py) makes the mailbox (provisioning.mailbox.plan_mailbox,
   as for a person) and sets the ACL on its INBOX: the holders of the post today get
   SEAT_RIGHTS, anyone who ever held it and does not today loses them (the hub's range:
   an ACL set by hand for someone else stays). A holder sees the seat as
   shared/<seat uid>/INBOX. The seat row records the outcome, as an account link does
   for a person, with one audit event for both steps: the entry's operations are read
   from the seat row, and cleared there once reported (unless a newer entry converge
   was recorded meanwhile: the next mail job reports it).

Every step is idempotent, so a converge cut short by a server going away is simply
run again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from connectors.base import (
    Account,
    AccountKey,
    AppliesOperations,
    ConnectorError,
    DuplicateKeys,
    KeyKind,
    Operation,
    OpKind,
    ReadsManyAccounts,
    Result,
)
from connectors.dn import normalize_dn
from idhub.engine.plans import Outcome
from idhub.engine.targets.seat_facts import SeatFacts
from idhub.services import Mailboxes
from provisioning.mailbox import plan_delegations, plan_mailbox
from provisioning.model import AccountState, DesiredAccount
from provisioning.planner import plan
from provisioning.rules import Rules
from provisioning.seats import SEAT_RIGHTS, desired_seat, seat_container

__all__ = [
    "SeatEntryPlan",
    "SeatPlan",
    "apply_seat_entries",
    "merge_kinds",
    "plan_seat_entries",
    "plan_seat_mailbox",
    "seat_audit_action",
]


@dataclass
class SeatEntryPlan(Outcome):
    """Step 1, on the directory target: the seat's entry."""

    facts: SeatFacts
    desired: DesiredAccount
    entry_ops: list[Operation]
    results: list[Result] = field(default_factory=list)
    failure: ConnectorError | None = None
    dn: str | None = None

    @property
    def seat_id(self) -> uuid.UUID:
        return self.facts.row.id

    def summary(self) -> dict:
        return _summary(self.facts, self.desired, [op.kind for op in self.entry_ops])


@dataclass
class SeatPlan(Outcome):
    """Step 2, on the mail target: the seat's mailbox and who may read it."""

    facts: SeatFacts
    desired: DesiredAccount
    entry_kinds: list[OpKind]  # what step 1 did to the entry, unreported (the seat row's)
    entry_version: int = 0  # the seat row's, as read: its entry_ops are cleared if unchanged
    mail_ops: list[Operation] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    failure: ConnectorError | None = None

    @property
    def seat_id(self) -> uuid.UUID:
        return self.facts.row.id

    @property
    def granted(self) -> list[str]:
        """Who may read the seat after this converge."""
        return _granted(self.facts, self.desired)

    def summary(self) -> dict:
        return _summary(self.facts, self.desired, self.entry_kinds, self.mail_ops)


def _granted(facts: SeatFacts, desired: DesiredAccount) -> list[str]:
    if desired.state is not AccountState.ENABLED:
        return []
    return list(facts.snapshot.holders)


def _summary(
    facts: SeatFacts,
    desired: DesiredAccount,
    entry_kinds: list[OpKind],
    mail_ops: Sequence[Operation] = (),
) -> dict:
    acl = {
        key: sorted({d for op in mail_ops for d in op.attributes.get(key, ())})
        for key in ("acl_grant", "acl_revoke")
    }
    return {
        "uid": facts.row.uid,
        "address": (desired.attributes.get("mail") or (None,))[0],
        "unit_id": str(facts.row.unit_id),
        "position_code": facts.row.position_code,
        "state": desired.state.value,
        "holders": _granted(facts, desired),
        "operations": [k.value for k in [*entry_kinds, *(op.kind for op in mail_ops)]],
        **{key: value for key, value in acl.items() if value},
    }


# -- step 1: the entry, on the directory target ---------------------------------------------
def plan_seat_entries(
    directory: ReadsManyAccounts,
    rules: Rules,
    facts: list[SeatFacts],
    *,
    base_dn: str,
    seats_ou_exists: bool,
) -> list[SeatEntryPlan]:
    """Each seat's entry: desired (from HR) against the directory's."""
    keys = {f.row.id: AccountKey(str(f.row.id), KeyKind.SEAT) for f in facts}
    duplicates: dict[AccountKey, list[str]] = {}
    try:
        actual = directory.read_many(list(keys.values()))
    except DuplicateKeys as exc:
        actual, duplicates = exc.accounts, exc.duplicates
    existing = {normalize_dn(seat_container(rules, base_dn).name)} if seats_ou_exists else set()
    plans = []
    for f in facts:
        key = keys[f.row.id]
        desired = desired_seat(f.snapshot, rules, base_dn=base_dn)
        if key in duplicates:
            p = SeatEntryPlan(f, desired, [])
            p.failure = DuplicateKeys(
                f"{len(duplicates[key])} entries claim {key}: {'; '.join(duplicates[key])}",
                {},
                {key: duplicates[key]},
            )
            plans.append(p)
            continue
        found = actual.get(key)
        ops = plan(
            desired,
            found,
            existing_containers=existing,
            managed_groups=frozenset(),
            kind=KeyKind.SEAT,
        )
        plans.append(SeatEntryPlan(f, desired, ops, dn=found.name if found else None))
    return plans


def apply_seat_entries(directory: AppliesOperations, plans: list[SeatEntryPlan]) -> None:
    """The entries' operations in one batch; each plan learns its results and its DN.
    TargetUnavailable propagates: the caller retries the whole round."""
    ready = [p for p in plans if p.failure is None]
    entry_ops = [op for p in ready for op in p.entry_ops]
    results = iter(directory.apply(entry_ops) if entry_ops else [])
    for p in ready:  # results come back in the order of the operations
        p.results = [next(results) for _ in p.entry_ops]
        if p.error is not None:
            continue
        for r in p.results:
            if r.operation.kind in (OpKind.CREATE, OpKind.MOVE, OpKind.RENAME) and r.name:
                p.dn = r.name
        p.dn = p.dn or p.desired.name


def merge_kinds(unreported: Sequence[str], applied: Sequence[OpKind]) -> list[str]:
    """A seat row's `entry_ops` after an entry converge: the kinds not yet reported, then
    the new ones (each kind once, in the order first applied)."""
    return list(dict.fromkeys([*unreported, *(k.value for k in applied)]))


# -- step 2: the mailbox and its ACL, on the mail target ------------------------------------
def plan_seat_mailbox(mail: Mailboxes, p: SeatPlan) -> None:
    """The seat's mailbox and ACL operations, in `p.mail_ops` (the mail target applies
    them with the rest of its round)."""
    row = p.facts.row
    location = p.desired.attributes["idhubMailbox"][0]
    box = mail.read_location(AccountKey(str(row.id)), location)
    p.mail_ops = plan_mailbox(
        p.desired, box, was_enabled=row.enabled, entry_changed=bool(p.entry_kinds)
    )
    created = next((op.name for op in p.mail_ops if op.kind is OpKind.CREATE), None)
    if box is not None or created is not None:  # else no mailbox: nobody to let in
        current = mail.read_acl(row.uid) if box is not None else frozenset()
        p.mail_ops += plan_delegations(
            p.desired,
            box or Account(AccountKey(str(row.id)), created or location),
            deputies=frozenset(p.granted),
            managed=p.facts.ever_held | frozenset(row.holders or ()),
            current=current,
            rights=SEAT_RIGHTS,
        )


def seat_audit_action(p: SeatPlan, before: list[str]) -> str | None:
    """What a converge did, for the audit trail (None: nothing worth an event)."""
    kinds = set(p.entry_kinds) | {op.kind for op in p.mail_ops}
    if OpKind.CREATE in kinds:
        return "seat.create"
    if OpKind.DISABLE in kinds:
        return "seat.disable"
    if OpKind.ENABLE in kinds:
        return "seat.enable"
    if sorted(before) != sorted(p.granted) or any(
        "acl_grant" in op.attributes or "acl_revoke" in op.attributes for op in p.mail_ops
    ):
        return "seat.handover"
    if p.entry_kinds:
        return "seat.update"
    return None
