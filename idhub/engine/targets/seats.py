"""Converge a seat mailbox: its directory entry, its mailbox, and who may read it.

Run by the mail worker for jobs whose subject is a seat (engine/seats.py). One converge:

1. the directory entry (provisioning.seats.desired_seat → planner → LDAP connector):
   Postfix and Dovecot must find the seat before a mailbox can be made for it;
2. the mailbox (provisioning.mailbox.plan_mailbox, as for a person);
3. the ACL on its INBOX: the holders of the post today get SEAT_RIGHTS, anyone who ever
   held it and does not today loses them (the hub's range: an ACL set by hand for
   someone else stays). A holder sees the seat as shared/<seat uid>/INBOX.

Every step is idempotent, so a converge cut short by a server going away is simply
run again. The seat row records the outcome, as an account link does for a person.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from connectors.base import (
    Account,
    AccountKey,
    AppliesOperations,
    ConnectorError,
    KeyKind,
    Operation,
    OpKind,
    ReadsManyAccounts,
    Result,
)
from connectors.ldap import DuplicateKeys
from idhub.engine.plans import Outcome
from idhub.engine.targets.seat_facts import SeatFacts
from idhub.services import Mailboxes
from provisioning.dn import normalize_dn
from provisioning.mailbox import plan_delegations, plan_mailbox
from provisioning.model import AccountState, DesiredAccount
from provisioning.planner import plan
from provisioning.rules import Rules
from provisioning.seats import SEAT_RIGHTS, desired_seat, seat_container

__all__ = ["SeatPlan", "apply_seat_plans", "plan_seats"]


@dataclass
class SeatPlan(Outcome):
    facts: SeatFacts
    desired: DesiredAccount
    entry_ops: list[Operation]
    mail_ops: list[Operation] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    failure: ConnectorError | None = None
    dn: str | None = None

    @property
    def seat_id(self) -> uuid.UUID:
        return self.facts.row.id

    @property
    def granted(self) -> list[str]:
        """Who may read the seat after this converge."""
        if self.desired.state is not AccountState.ENABLED:
            return []
        return list(self.facts.snapshot.holders)

    def summary(self) -> dict:
        ops = [op.kind.value for op in self.entry_ops + self.mail_ops]
        acl = {
            key: sorted({d for op in self.mail_ops for d in op.attributes.get(key, ())})
            for key in ("acl_grant", "acl_revoke")
        }
        return {
            "uid": self.facts.row.uid,
            "address": (self.desired.attributes.get("mail") or (None,))[0],
            "unit_id": str(self.facts.row.unit_id),
            "position_code": self.facts.row.position_code,
            "state": self.desired.state.value,
            "holders": self.granted,
            "operations": ops,
            **{key: value for key, value in acl.items() if value},
        }


def plan_seats(
    directory: ReadsManyAccounts,
    rules: Rules,
    facts: list[SeatFacts],
    *,
    base_dn: str,
    seats_ou_exists: bool,
) -> list[SeatPlan]:
    """The directory part of each seat's plan (the mailbox part needs the entry first)."""
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
            p = SeatPlan(f, desired, [])
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
        plans.append(SeatPlan(f, desired, ops, dn=found.name if found else None))
    return plans


def apply_seat_plans(directory: AppliesOperations, mail: Mailboxes, plans: list[SeatPlan]) -> None:
    """Directory entries first (one batch), then each seat's mailbox and ACL.

    TargetUnavailable from either server propagates: the caller retries the whole round.
    """
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
        _plan_mailbox(mail, p)
        if p.mail_ops:
            p.results += mail.apply(p.mail_ops)


def _plan_mailbox(mail: Mailboxes, p: SeatPlan) -> None:
    row = p.facts.row
    location = p.desired.attributes["idhubMailbox"][0]
    box = mail.read_location(AccountKey(str(row.id)), location)
    p.mail_ops = plan_mailbox(
        p.desired, box, was_enabled=row.enabled, entry_changed=bool(p.entry_ops)
    )
    created = next((op.name for op in p.mail_ops if op.kind is OpKind.CREATE), None)
    if box is None and created is None:
        return  # no mailbox (a seat closed before it was ever made): nobody to let in
    current = mail.read_acl(row.uid) if box is not None else frozenset()
    holders = frozenset(p.granted)
    p.mail_ops += plan_delegations(
        p.desired,
        box or Account(AccountKey(str(row.id)), created or location),
        deputies=holders,
        managed=p.facts.ever_held | frozenset(row.holders or ()),
        current=current,
        rights=SEAT_RIGHTS,
    )


def seat_audit_action(p: SeatPlan, before: list[str]) -> str | None:
    """What a converge did, for the audit trail (None: nothing worth an event)."""
    kinds = {op.kind for op in p.entry_ops + p.mail_ops}
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
    if p.entry_ops:
        return "seat.update"
    return None
