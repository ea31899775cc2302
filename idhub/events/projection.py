"""What an app knows of a person, and the events that take it from what it was last told
to what is true now (converge, don't replay).

A person's projection for an app: `sub`, username, name, mail, unit and position (the
primary post today), every unit with a post, the app's roles (the rules file's
"<app>:<role>" app roles, prefix dropped) and the hub groups. None when the person is
not among the app's users: not active, no account, or — for an app the rules give roles
in (a "gated" app, as on /account/apps) — none of its roles.

The diff of the last projection sent and the current one gives at most:
joiner (absent → present), leaver (present → absent), mover (unit, position or units
changed), role_change (roles or groups changed). A burst of HR changes before the worker
runs is one diff: the net event(s). Each event's id is derived from the app, the person,
its sequence number and its content, so a retry of an undelivered event carries the same
`webhook-id` and the app can deduplicate it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.db import among
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import Person, PersonStatus
from idhub.oidc.app_claims import delegated_to
from provisioning.app_roles import merge, roles_for_app
from provisioning.model import AccountState, PersonSnapshot, PostKind
from provisioning.policy import desired_account
from provisioning.rules import Rules

EVENT_TYPES = ("joiner", "mover", "leaver", "role_change")
MOVER_KEYS = ("unit", "position", "units")
ROLE_KEYS = ("roles", "roles_by_unit", "delegated", "groups")


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    seq: int
    payload: dict[str, Any]  # the JSON body's object

    def body(self) -> str:
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def gated_apps(rules: Rules) -> set[str]:
    """Every `<app>` key the rules give roles in (as idhub/account/apps.py reads them)."""
    return {r.partition(":")[0] for role in rules.roles.values() for r in role.app_roles}


def _primary(snapshot: PersonSnapshot) -> tuple[Any, list[Any]]:
    active = [p for p in snapshot.posts if p.active_on(snapshot.today)]
    if not active:
        return None, []
    ranked = sorted(
        active, key=lambda p: (p.kind is not PostKind.PRIMARY, -p.leadership_level, p.unit.code)
    )
    return ranked[0], active


def _cn(dn: str) -> str:
    first = dn.split(",", 1)[0]
    return first.split("=", 1)[1] if "=" in first else first


def projections(
    session: Session,
    person_ids: Sequence[uuid.UUID],
    clients: Iterable[str] | Mapping[str, str],
    rules: Rules,
    base_dn: str,
    today: dt.date | None = None,
    without_groups: Collection[str] = (),
) -> dict[uuid.UUID, dict[str, dict[str, Any] | None]]:
    """Each person's projection for each app (client id; a mapping gives each client's
    app key, else the client id is the app key). The clients in `without_groups` (no
    `hub_roles`) are not told the hub's groups."""
    app_of_client = dict(clients) if isinstance(clients, Mapping) else {c: c for c in clients}
    clients = list(app_of_client)
    today = today or dt.date.today()
    people = list(session.scalars(select(Person).where(among(session, Person.id, person_ids))))
    found: dict[uuid.UUID, dict[str, dict[str, Any] | None]] = {
        pid: dict.fromkeys(clients) for pid in person_ids
    }
    live = [p for p in people if p.status is PersonStatus.ACTIVE and p.username]
    if not live or not clients:
        return found
    snapshots = person_snapshots(session, live, UnitDirectory.load(session), today)
    gated = gated_apps(rules)
    for person in live:
        snapshot = snapshots[person.id]
        desired = desired_account(snapshot, rules, base_dn=base_dn)
        if desired.state is not AccountState.ENABLED:
            continue
        primary, active = _primary(snapshot)
        mail = desired.attributes.get("mail", ())
        names = (person.family_name, person.middle_name, person.given_name)
        common: dict[str, Any] = {
            "sub": str(person.id),
            "username": person.username,
            "name": " ".join(n for n in names if n),
            "email": mail[0] if mail else None,
            "unit": {"code": primary.unit.code, "name": primary.unit.name} if primary else None,
            "position": primary.position_name if primary else None,
            "units": sorted({p.unit.code for p in active}),
            "groups": sorted(_cn(dn) for dn in desired.groups),
        }
        for client in clients:
            app = app_of_client[client]
            mine = _app_part(session, person, desired, app, today, rules, base_dn)
            if app in gated and not (mine["roles"] or mine["roles_by_unit"]):
                continue  # not among this app's users
            told = {**common, **mine}
            if client in without_groups:
                del told["groups"]
            found[person.id][client] = told
    return found


def _app_part(
    session: Session,
    person: Person,
    desired: Any,
    app: str,
    today: dt.date,
    rules: Rules,
    base_dn: str,
) -> dict[str, Any]:
    """The app's roles (prefix dropped), per unit, and the delegations behind them."""
    delegated = delegated_to(session, person, app, today, rules, base_dn)
    held = merge([roles_for_app(desired, app), *(given for _, _, given in delegated)])
    return {
        "roles": [r.partition(":")[2] for r in held.everywhere],
        "roles_by_unit": _by_unit(held.by_unit),
        "delegated": [
            {
                "id": str(row.id),
                "from": {"sub": str(giver.id), "username": giver.username},
                "roles": [r.partition(":")[2] for r in given.everywhere],
                "roles_by_unit": _by_unit(given.by_unit),
                "start": row.start_date.isoformat(),
                "end": row.end_date.isoformat(),
            }
            for row, giver, given in delegated
        ],
    }


def _by_unit(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for unit, role in pairs:
        found.setdefault(unit, []).append(role.partition(":")[2])
    return found


def event_id(client_id: str, person_id: uuid.UUID, seq: int, type_: str, data: Any) -> str:
    """Stable for the same event: a retry carries the same id (the app deduplicates)."""
    content = json.dumps([client_id, str(person_id), seq, type_, data], sort_keys=True)
    return "evt_" + hashlib.sha256(content.encode()).hexdigest()[:32]


def changes(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[tuple[str, dict[str, Any]]]:
    """The net event types from `before` to `after`, each with its data."""
    if before is None and after is None:
        return []
    if before is None:
        return [("joiner", {"person": after})]
    if after is None:
        return [("leaver", {"person": {"sub": before["sub"], "username": before.get("username")}})]
    found: list[tuple[str, dict[str, Any]]] = []
    if any(before.get(k) != after.get(k) for k in MOVER_KEYS):
        previous = {k: before.get(k) for k in MOVER_KEYS}
        found.append(("mover", {"person": after, "previous": previous}))
    if any(before.get(k) != after.get(k) for k in ROLE_KEYS):
        previous = {k: before.get(k) for k in ROLE_KEYS}
        found.append(("role_change", {"person": after, "previous": previous}))
    return found


def events_between(
    client_id: str,
    person_id: uuid.UUID,
    seq: int,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    wanted: Iterable[str],
) -> list[Event]:
    """The events (of the types the app wants) taking it from `before` to `after`;
    numbered after `seq`, the last sequence number it was sent."""
    wanted = set(wanted)
    out: list[Event] = []
    for type_, data in changes(before, after):
        if type_ not in wanted:
            continue
        n = seq + len(out) + 1
        eid = event_id(client_id, person_id, n, type_, data)
        payload = {"id": eid, "type": type_, "seq": n, "data": data}
        out.append(Event(eid, type_, n, payload))
    return out


__all__ = ["EVENT_TYPES", "Event", "changes", "event_id", "events_between", "gated_apps"]
__all__ += ["projections"]
