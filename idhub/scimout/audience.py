"""Who an app receives, and what it is sent of each (its projection).

The projection is the change events' (idhub/events/projection.py) plus the civil-servant
code; None when the person is not among the app's users. An app's audience narrows it:
`subtree` keeps people with a post in that unit or below it, `role_prefix` ("document:")
people holding an app role with that prefix (everywhere or for a unit). A person outside
the audience is never sent; one leaving it is deactivated.

The projection sent also names the app's groups the user belongs to (`scim_groups`,
externalId → displayName): the group of its primary post's unit (externalId = the unit
code) and one per app role it holds in the app, as the ID token's `app_roles` give them
(delegations included): externalId "role:<app>:<role>", displayName "<app>:<role>" as the
rules spell it; a `per_unit` role is one group per (role, unit), "role:<app>:<role>@<unit
code>" named "<app>:<role> — <unit name>". A unit code never holds ":" (web/schemas.py's
CODE), so no role group's externalId can be a unit's.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.db import among
from idhub.events.projection import projections
from idhub.models import OrgUnit, Person, UnitStatus
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
    unit_names = _names_of_role_units(session, now.values())
    found: dict[uuid.UUID, dict[str, dict[str, Any] | None]] = {}
    for pid in person_ids:
        mine: dict[str, dict[str, Any] | None] = {}
        for a in audiences:
            p = now[pid][a.app_key]
            if p is not None and a.role_prefix and not (p["roles"] or p["roles_by_unit"]):
                p = None
            if p is not None and a.client_id in codes and not set(p["units"]) & codes[a.client_id]:
                p = None
            if p is not None:
                groups = scim_groups(p, a.app_key, unit_names)
                p = {**p, "employee_number": numbers.get(pid), "scim_groups": groups}
            mine[a.client_id] = p
        found[pid] = mine
    return found


ROLE_GROUP = "role:"  # the externalId prefix of a role group


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def scim_groups(
    projection: dict[str, Any], app_key: str, unit_names: dict[str, str]
) -> dict[str, str]:
    """The app's groups a user with that projection belongs to: externalId → displayName."""
    found: dict[str, str] = {}
    unit = projection.get("unit")
    if unit:
        found[unit["code"]] = unit["name"]
    for role in projection.get("roles") or ():
        found[_nfc(f"{ROLE_GROUP}{app_key}:{role}")] = _nfc(f"{app_key}:{role}")
    for code, roles in (projection.get("roles_by_unit") or {}).items():
        for role in roles:
            name = f"{app_key}:{role} — {unit_names.get(code, code)}"
            found[_nfc(f"{ROLE_GROUP}{app_key}:{role}@{code}")] = _nfc(name)
    return found


def groups_sent(projection: dict[str, Any] | None) -> dict[str, str]:
    """The groups a user was put in with the projection last sent. One sent before role
    groups were pushed has no `scim_groups`: it was in its unit's group only (and the
    projection now differs from it, so the next round adds the role groups)."""
    if projection is None:
        return {}
    if "scim_groups" in projection:
        return dict(projection["scim_groups"])
    unit = projection.get("unit")
    return {unit["code"]: unit["name"]} if unit else {}


def group_kind(external_id: str) -> str:
    return "role" if external_id.startswith(ROLE_GROUP) else "unit"


def _names_of_role_units(
    session: Session, projections: Iterable[dict[str, dict[str, Any] | None]]
) -> dict[str, str]:
    """The names of the (active) units someone holds a per-unit role in."""
    codes = {
        code
        for by_app in projections
        for p in by_app.values()
        if p is not None
        for code in p.get("roles_by_unit") or {}
    }
    if not codes:
        return {}
    rows = session.execute(
        select(OrgUnit.code, OrgUnit.name).where(
            among(session, OrgUnit.code, list(codes)), OrgUnit.status == UnitStatus.ACTIVE
        )
    )
    return {code: name for code, name in rows}


__all__ = ["Audience", "app_projections", "group_kind", "groups_sent", "scim_groups"]
__all__ += ["subtree_codes"]
