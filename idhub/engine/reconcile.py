"""Reconciliation: scan the directory once, correlate entries by the immutable key, report drift.

Drift is whatever converge would change: a missing account, one in the wrong place,
attribute values edited by hand, group memberships, the enabled state; and orphans,
entries marked as hub-managed that no person explains. Repair is the ordinary path:
the drifted people get converge jobs, and the worker (with its guard) does the rest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from connectors.base import KeyKind, OpKind
from idhub.changes.guard import Guard
from idhub.changes.outbox import enqueue
from idhub.db import Database
from idhub.engine.drift import remember
from idhub.engine.targets.ldap import DirectoryView, compute_plans
from idhub.models import Person
from idhub.services import Directory
from provisioning.rules import Rules

_DRIFT_KIND = {
    OpKind.CREATE: "missing",
    OpKind.MOVE: "wrong_place",
    OpKind.RENAME: "wrong_place",
    OpKind.MODIFY: "attributes",
    OpKind.DISABLE: "should_be_disabled",
    OpKind.ENABLE: "should_be_enabled",
    OpKind.DELETE: "should_be_deleted",
    OpKind.ADD_MEMBER: "groups",
    OpKind.REMOVE_MEMBER: "groups",
}


@dataclass
class DriftReport:
    scanned_accounts: int = 0
    people: int = 0
    in_sync: int = 0
    drift: Counter[str] = field(default_factory=Counter)
    drifted: list[dict] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    guard_tripped: bool = False
    repaired: int = 0

    def as_dict(self) -> dict:
        return {
            "scanned_accounts": self.scanned_accounts,
            "people": self.people,
            "in_sync": self.in_sync,
            "drift": dict(self.drift),
            "drifted": self.drifted,
            "orphans": self.orphans,
            "guard_tripped": self.guard_tripped,
            "repaired": self.repaired,
        }


def scan_directory(connector: Directory) -> DirectoryView:
    accounts = {a.key: a for a in connector.scan() if a.key.kind is KeyKind.PERSON}
    return DirectoryView(
        accounts=accounts,
        containers=set(connector.containers()),
        managed_groups=set(connector.managed_groups()),
    )


def reconcile(
    db: Database,
    connector: Directory,
    rules: Rules,
    *,
    base_dn: str,
    repair: bool = False,
    confirm: bool = False,
    guard: Guard | None = None,
    batch: int = 500,
    today: dt.date | None = None,
) -> DriftReport:
    view = scan_directory(connector)
    report = DriftReport(scanned_accounts=len(view.accounts))
    to_converge: list[uuid.UUID] = []
    cutting: set[uuid.UUID] = set()  # an account the directory still lets in: urgent
    taking = 0
    with db.transaction() as session:
        person_ids = list(session.scalars(select(Person.id).order_by(Person.id)))
        report.people = len(person_ids)
        for start in range(0, len(person_ids), batch):
            chunk = person_ids[start : start + batch]
            for p in compute_plans(
                session, connector, rules, chunk, base_dn=base_dn, today=today, scanned=view
            ):
                if not p.operations:
                    report.in_sync += 1
                    continue
                kinds = sorted({_DRIFT_KIND.get(op.kind, op.kind.value) for op in p.operations})
                if "missing" in kinds:  # its groups and containers come with the creation
                    kinds = ["missing"]
                report.drift.update(kinds)
                report.drifted.append(
                    {
                        "person_id": str(p.person_id),
                        "dn": p.desired.name,
                        "drift": kinds,
                        "operations": [op.reason or op.kind.value for op in p.operations],
                    }
                )
                to_converge.append(p.person_id)
                taking += p.disables
                if p.disables:
                    cutting.add(p.person_id)
        known = {str(i) for i in person_ids}
        report.orphans = sorted(a.name for key, a in view.accounts.items() if key.id not in known)
        if guard is not None and not confirm:
            report.guard_tripped = guard.would_trip(session, taking)
        remember(session, report.as_dict())  # for the console's home (engine/drift.py)
    if repair and to_converge and not report.guard_tripped:
        with db.transaction() as session:
            why = "reconciliation found drift"
            enqueue(session, [i for i in to_converge if i not in cutting], why)
            enqueue(session, cutting, why, urgent=True)
        report.repaired = len(to_converge)
    return report
