"""A change's converge plan before it is saved: write it in a transaction that is rolled
back, let the converge planner read the directory and work out the operations, undo.

The same rule as a change set's preview (reorg/preview.py): the plan shown is what saving
then converging will do, computed by the real code, not estimated. Nothing is recorded:
the audit log of the dry run is a no-op, so the chain lock is not held while the
directory is read."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import select

from connectors.base import ConnectorError, Operation, OpKind
from idhub.changes.chain import AuditLog
from idhub.changes.context import HrContext
from idhub.console.frame import Admin
from idhub.db import get_db
from idhub.engine.targets.ldap import compute_plans
from idhub.models import Person
from idhub.oidc.i18n import t
from idhub.services import current_hub

# An action's write: the people it touches (their plans are shown).
Write = Callable[[HrContext], set[uuid.UUID]]


@dataclass
class PlanLine:
    text: str
    kind: str


@dataclass
class PersonPreview:
    person_id: uuid.UUID
    name: str
    dn: str | None
    lines: list[PlanLine] = field(default_factory=list)


class _Unrecorded:
    def record(self, *args: Any, **kwargs: Any) -> None:
        return None

    def record_many(self, *args: Any, **kwargs: Any) -> int:
        return 0


def line(op: Operation) -> PlanLine:
    """One operation in words, Vietnamese or English as the page is."""
    kind = OpKind(op.kind)
    values = {
        "name": op.name or "",
        "current": op.current or "",
        "group": op.group or "",
        "attributes": ", ".join(sorted(op.attributes or {})),
    }
    return PlanLine(t(f"console.people.plan.{kind.value}", **values), kind.value)


def describe(op: Operation) -> list[PlanLine]:
    lines = [line(op)]
    mail = (op.attributes or {}).get("mail") if op.kind in (OpKind.CREATE, OpKind.MODIFY) else None
    if mail and current_hub().connectors.mail_enabled:
        lines.append(PlanLine(t("console.people.plan.mailbox", address=mail[0]), "mailbox"))
    return lines


def preview(admin: Admin, write: Write, reason: str | None) -> list[PersonPreview]:
    """Run `write` as `admin` would, compute the plans of the people it touches, undo.

    Domain errors of the write propagate (the form shows them); the directory being away
    gives plans without the directory's side (an error line)."""
    hub = current_hub()
    admin.scope("hr:write", "admin")  # read before the write transaction opens
    session = get_db().session(write=True)
    try:
        ctx = admin.hr_context(session, reason)
        ctx.audit = cast(AuditLog, _Unrecorded())
        people = write(ctx)
        session.flush()
        names = {
            p.id: p.full_name for p in session.scalars(select(Person).where(Person.id.in_(people)))
        }
        connector = hub.connectors.directory()
        try:
            plans = compute_plans(
                session, connector, hub.rules, sorted(people), base_dn=hub.connectors.base_dn
            )
        except ConnectorError as error:
            return [
                PersonPreview(p, names.get(p, ""), None, [PlanLine(str(error), "error")])
                for p in sorted(people)
            ]
        finally:
            connector.close()
        result = []
        for p in plans:
            lines = [ln for op in p.operations for ln in describe(op)]
            if not lines:
                lines = [PlanLine(t("console.people.plan.nothing"), "none")]
            name = names.get(p.person_id, "")
            result.append(PersonPreview(p.person_id, name, p.desired.name, lines))
        return result
    finally:
        session.rollback()
        session.close()


def save(admin: Admin, write: Write, reason: str | None) -> set[uuid.UUID]:
    """The same write for real: one transaction, audited, converge jobs queued in it."""
    with get_db().transaction() as session:
        return write(admin.hr_context(session, reason))
