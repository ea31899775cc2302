"""Groups: the unit and role groups the provisioning policy puts people in (read-only:
membership follows posts and the rules file). Worked out from the visible people's
desired accounts, so a subtree client sees only its subtree's members."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from scim2_models import Group, GroupMember, Meta
from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.admin_scope import visible
from idhub.admin_scope.scope import Scope
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import Person, PersonStatus
from idhub.scim.users import View, group_name
from provisioning.policy import desired_account

_CHUNK = 500  # SQLite's bound-parameter limit stays far


def _people(session: Session, scope: Scope) -> Iterator[list[Person]]:
    query = select(Person).where(Person.status == PersonStatus.ACTIVE).order_by(Person.id)
    query = visible.people(query, session, scope)
    chunk: list[Person] = []
    for person in session.scalars(query):
        chunk.append(person)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def groups(session: Session, scope: Scope, view: View) -> list[Any]:
    today = dt.date.today()
    units = UnitDirectory.load(session)
    members: dict[str, list[Person]] = defaultdict(list)
    for chunk in _people(session, scope):
        for person in chunk:
            session.expunge(person)  # a large province: nothing kept in the identity map
        snaps = person_snapshots(session, chunk, units, today)
        for person in chunk:
            account = desired_account(snaps[person.id], view.rules, base_dn=view.base_dn)
            for dn in account.groups:
                members[group_name(dn)].append(person)
    return [
        Group(
            id=name,
            display_name=name,
            members=[
                GroupMember.model_validate(
                    {
                        "value": str(p.id),
                        "display": p.full_name,
                        "type": "User",
                        "$ref": f"{view.base}/Users/{p.id}",
                    }
                )
                for p in sorted(people, key=lambda p: p.id)
            ],
            meta=Meta(resource_type="Group", location=f"{view.base}/Groups/{name}"),
        )
        for name, people in sorted(members.items())
    ]
