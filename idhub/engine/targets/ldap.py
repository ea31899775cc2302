"""Converge a batch of people on the directory: snapshots → policy → read → plan → apply.

Dry run (preview) is the same computation without `apply`. Reading and writing the
directory is done for the whole batch at once (one search per few hundred keys, group
changes merged per group), which is what makes the worker fast. The worker loop's
target for it is `DirectoryTarget` (targets/directory.py).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import (
    Account,
    AccountKey,
    AppliesOperations,
    Conflict,
    DuplicateKeys,
    KeyKind,
    Operation,
    OpKind,
)
from connectors.dn import normalize_dn
from idhub.db import among
from idhub.engine.plans import PersonPlan
from idhub.engine.targets.mail_facts import with_mail_facts
from idhub.engine.targets.seats import SeatEntryPlan
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.identity.usernames import issue_username
from idhub.models import Person
from idhub.services import Directory
from provisioning.model import AccountState
from provisioning.planner import plan
from provisioning.policy import desired_account, groups_container_dn
from provisioning.rules import Rules

TARGET = "ldap"
__all__ = ["TARGET", "DirectoryView", "UsernamesNeeded", "compute_plans"]


@dataclass
class DirectoryView:
    """What the directory holds: accounts by key, existing OUs, hub-managed groups."""

    accounts: dict[AccountKey, Account]
    containers: set[str]
    managed_groups: set[str]


class UsernamesNeeded(Exception):
    """compute_plans was asked not to write, and someone has no username yet."""


# Plain rows, not ORM objects: a round plans hundreds of people (what snapshots read).
_PERSON_COLUMNS = (
    Person.id,
    Person.username,
    Person.family_name,
    Person.middle_name,
    Person.given_name,
    Person.status,
    Person.civil_servant_code,
)


def compute_plans(
    session: Session,
    connector: Directory,
    rules: Rules,
    person_ids: Sequence[uuid.UUID],
    *,
    base_dn: str,
    today: dt.date | None = None,
    scanned: DirectoryView | None = None,
    issue_usernames: bool = True,
) -> list[PersonPlan]:
    """Desired state from HR, actual state from the directory, and the operations between.

    `scanned` (reconciliation) supplies the directory as scanned once, instead of reading
    each batch.
    """
    today = today or dt.date.today()
    people: list[Any] = list(
        session.execute(select(*_PERSON_COLUMNS).where(among(session, Person.id, person_ids)))
    )
    if any(not row.username for row in people):  # rows from before usernames were issued
        if not issue_usernames:
            raise UsernamesNeeded
        people = list(session.scalars(select(Person).where(Person.id.in_(list(person_ids)))))
        for person in people:
            if not person.username:
                issue_username(session, person, rules.naming.pattern)
    snapshots = person_snapshots(session, people, UnitDirectory.load(session), today)
    snapshots = with_mail_facts(session, snapshots, today)  # address history, successors
    duplicated: dict[AccountKey, list[str]] = {}
    if scanned is None:
        try:
            accounts = connector.read_many([AccountKey(str(p.id)) for p in people])
        except DuplicateKeys as exc:  # plan the others; report these to the admin
            accounts, duplicated = exc.accounts, exc.duplicates
        scanned = DirectoryView(
            accounts=accounts,
            containers=set(connector.containers()),
            managed_groups=set(connector.managed_groups()),
        )
    actual = scanned.accounts
    containers = set(scanned.containers)
    managed_groups = set(scanned.managed_groups)
    groups_ou = groups_container_dn(rules, base_dn)
    plans: list[PersonPlan] = []
    for person in people:
        desired = desired_account(snapshots[person.id], rules, base_dn=base_dn)
        key = AccountKey(str(person.id))
        if key in duplicated:
            names = ", ".join(duplicated[key])
            failure = Conflict(f"several directory entries carry this person's key: {names}")
            plans.append(PersonPlan(person.id, desired, None, [], failure=failure))
            continue
        current = actual.get(key)
        operations = plan(
            desired, current, existing_containers=containers, managed_groups=managed_groups
        )
        if normalize_dn(groups_ou) not in containers and any(
            op.kind is OpKind.ADD_MEMBER for op in operations
        ):  # the groups' own OU, made once before the first group is
            containers.add(normalize_dn(groups_ou))
            operations.insert(0, _groups_container(groups_ou, rules))
        for op in operations:  # later people in the batch need not ensure them again
            if op.kind is OpKind.ENSURE_CONTAINER and op.name:
                containers.add(normalize_dn(op.name))
            if op.kind is OpKind.ADD_MEMBER and op.group:
                managed_groups.add(normalize_dn(op.group))
        plans.append(PersonPlan(person.id, desired, current, operations))
    return plans


def _groups_container(dn: str, rules: Rules) -> Operation:
    return Operation(
        OpKind.ENSURE_CONTAINER,
        AccountKey(normalize_dn(dn), KeyKind.UNIT),
        name=dn,
        attributes={
            "objectClass": ("organizationalUnit",),
            "ou": (rules.directory.groups_ou,),
            "description": ("Groups managed by IDHub",),
        },
        reason="container for the hub-managed groups",
    )


def apply_plans(connector: AppliesOperations, plans: list[PersonPlan]) -> None:
    """One apply() for the whole batch; results are handed back to each person's plan.

    Raises TargetUnavailable when the directory goes away: the caller retries the batch,
    which is harmless because every plan is recomputed from the truth.
    """
    operations = [op for p in plans for op in p.operations]
    if not operations:
        return
    results = connector.apply(operations)
    position = 0
    for p in plans:
        p.results = results[position : position + len(p.operations)]
        position += len(p.operations)


def summary(p: PersonPlan) -> dict:
    """What the audit trail keeps of one converge."""
    return {
        "state": p.desired.state.value,
        "dn": p.desired.name if p.desired.state is not AccountState.ABSENT else None,
        "operations": [
            {
                "kind": op.kind.value,
                **({"group": op.group} if op.group else {}),
                **({"attributes": sorted(op.attributes)} if op.attributes else {}),
            }
            for op in p.operations
        ],
        "roles": list(p.desired.roles),
    }


def audit_action(p: PersonPlan) -> str:
    kinds = {op.kind for op in p.operations}
    for kind, action in (
        (OpKind.DELETE, "account.delete"),
        (OpKind.CREATE, "account.create"),
        (OpKind.DISABLE, "account.disable"),
        (OpKind.ENABLE, "account.enable"),
        (OpKind.MOVE, "account.move"),
        (OpKind.RENAME, "account.rename"),
    ):
        if kind in kinds:
            return action
    return "account.update"


@dataclass
class DirectoryPlans:
    """A round's plans; the guard's held people are planned but not applied; and the
    entries of the seat mailboxes in the round (targets/seat_entries.py)."""

    plans: list[PersonPlan]
    held: set[uuid.UUID]
    to_apply: list[PersonPlan]
    seats: list[SeatEntryPlan] = field(default_factory=list)
