"""Who an app receives, and what it is sent of each (its projection).

The projection is the change events' (idhub/events/projection.py) plus the civil-servant
code; None when the person is not among the app's users. An app's audience narrows it:
`subtree` keeps people with a post in that unit or below it, `role_prefix` ("document:")
people holding an app role with that prefix. A person outside the audience is never sent;
one leaving it is deactivated.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.db import among
from idhub.events.projection import projections
from idhub.models import OrgUnit, Person
from provisioning.rules import Rules


@dataclass(frozen=True)
class Audience:
    client_id: str
    subtree: str | None = None
    role_prefix: str | None = None

    @property
    def app_key(self) -> str:
        """The rules' app key whose roles gate the app: the prefix's, else the client's."""
        return (self.role_prefix or "").rstrip(":") or self.client_id


def subtree_codes(session: Session, code: str) -> set[str]:
    """The unit of that code and every unit below it."""
    rows = session.execute(select(OrgUnit.id, OrgUnit.code, OrgUnit.parent_id)).all()
    children: dict[Any, list[Any]] = {}
    for row in rows:
        children.setdefault(row.parent_id, []).append(row)
    found: set[str] = set()
    stack = [r for r in rows if r.code == code]
    while stack:
        row = stack.pop()
        found.add(row.code)
        stack.extend(children.get(row.id, []))
    return found


def app_projections(
    session: Session,
    person_ids: Sequence[uuid.UUID],
    audiences: Iterable[Audience],
    rules: Rules,
    base_dn: str,
) -> dict[uuid.UUID, dict[str, dict[str, Any] | None]]:
    """Each person's projection for each app (client id), its audience applied."""
    audiences = list(audiences)
    keys = {a.app_key for a in audiences}
    now = projections(session, person_ids, keys, rules, base_dn)
    codes = {a.client_id: subtree_codes(session, a.subtree) for a in audiences if a.subtree}
    numbers: dict[uuid.UUID, str | None] = {
        r.id: r.civil_servant_code
        for r in session.execute(
            select(Person.id, Person.civil_servant_code).where(
                among(session, Person.id, person_ids)
            )
        )
    }
    found: dict[uuid.UUID, dict[str, dict[str, Any] | None]] = {}
    for pid in person_ids:
        mine: dict[str, dict[str, Any] | None] = {}
        for a in audiences:
            p = now[pid][a.app_key]
            if p is not None and a.role_prefix and not p["roles"]:
                p = None
            if p is not None and a.client_id in codes and not set(p["units"]) & codes[a.client_id]:
                p = None
            mine[a.client_id] = None if p is None else {**p, "employee_number": numbers.get(pid)}
        found[pid] = mine
    return found


__all__ = ["Audience", "app_projections", "subtree_codes"]
