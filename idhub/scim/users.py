"""HR rows → SCIM Users, a page at a time: one query for the posts of the whole page, the
units from one directory load, and what the directory should hold (mail, groups, enabled)
from the provisioning policy itself, so SCIM says what LDAP says."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from scim2_models import URN, Email, EnterpriseUser, GroupMembership, Meta, Name
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idhub.db import among
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import Assignment, OrgUnit, Person
from idhub.scim.models import HubUser, IdhubUser, Post
from provisioning.model import AccountState, PersonSnapshot, PostKind, PostSnapshot
from provisioning.policy import desired_account
from provisioning.rules import Rules

# What UnitDirectory reads of a unit (as identity/snapshots.py loads it for the engine).
UNIT_COLUMNS = (
    OrgUnit.id,
    OrgUnit.parent_id,
    OrgUnit.code,
    OrgUnit.name,
    OrgUnit.type,
    OrgUnit.mail_domain,
    OrgUnit.status,
)


@dataclass(frozen=True)
class View:
    """How to render: where the resources live, the rules, and what the client may see."""

    base: str  # ".../scim/v2"
    rules: Rules
    base_dn: str
    personal: bool  # the client holds scim:personal: CCCD and date of birth shown


def weak_etag(version: int) -> str:
    return f'W/"{version}"'


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def last_modified(session: Session, people: Sequence[Person]) -> dict[uuid.UUID, dt.datetime]:
    """A person changes when their record or any of their posts does (for incremental sync)."""
    rows = session.execute(
        select(Assignment.person_id, func.max(Assignment.updated_at))
        .where(among(session, Assignment.person_id, [p.id for p in people]))
        .group_by(Assignment.person_id)
    )
    posts = {pid: _utc(at) for pid, at in rows if at is not None}
    return {p.id: max(_utc(p.updated_at), posts.get(p.id, _utc(p.updated_at))) for p in people}


def _placement(posts: Iterable[PostSnapshot], today: dt.date) -> PostSnapshot | None:
    """The post that places the person: a primary held today, else any held today."""
    current = sorted(
        (p for p in posts if p.active_on(today)),
        key=lambda p: (p.kind is not PostKind.PRIMARY, -p.start.toordinal()),
    )
    return current[0] if current else None


def _post(post: PostSnapshot) -> Post:
    return Post(
        unit_code=post.unit.code,
        unit_name=post.unit.name,
        position_code=post.position_code,
        position_name=post.position_name,
        kind=post.kind.value,
        start_date=post.start,
        end_date=post.end,
    )


def _user(person: Person, snap: PersonSnapshot, modified: dt.datetime, view: View) -> Any:
    account = desired_account(snap, view.rules, base_dn=view.base_dn)
    mail = account.attributes.get("mail", ())
    placed = _placement(snap.posts, snap.today)
    user = HubUser(
        id=str(person.id),
        user_name=person.username,
        name=Name(
            formatted=person.full_name,
            family_name=person.family_name,
            middle_name=person.middle_name or None,
            given_name=person.given_name,
        ),
        display_name=person.full_name,
        active=account.state is AccountState.ENABLED,
        emails=[
            Email.model_validate({"value": m, "type": "work", "primary": i == 0})
            for i, m in enumerate(mail)
        ]
        or None,
        groups=[
            GroupMembership.model_validate(
                {
                    "value": name,
                    "display": name,
                    "type": "direct",
                    "$ref": f"{view.base}/Groups/{name}",
                }
            )
            for name in sorted(group_name(dn) for dn in account.groups)
        ]
        or None,
        meta=Meta(
            resource_type="User",
            created=_utc(person.created_at),
            last_modified=modified,
            version=weak_etag(person.version),
            location=f"{view.base}/Users/{person.id}",
        ),
    )
    user[EnterpriseUser] = EnterpriseUser(
        employee_number=person.civil_servant_code,
        department=placed.unit.name if placed else None,
        organization=placed.unit.path_names[0] if placed else None,
    )
    user[IdhubUser] = IdhubUser(
        unit_code=placed.unit.code if placed else None,
        position=placed.position_name if placed else None,
        position_code=placed.position_code if placed else None,
        posts=[_post(p) for p in snap.posts] or None,
        national_id=person.national_id if view.personal else None,
        birth_date=person.date_of_birth if view.personal else None,
    )
    return user


def group_name(dn: str) -> str:
    """``cn=unit-snv.tccb,ou=groups,…`` → ``unit-snv.tccb``."""
    return dn.split(",", 1)[0].split("=", 1)[1]


def unit_directory(session: Session, people: Sequence[Person]) -> UnitDirectory:
    """Only the units these people hold posts in and their ancestors (a query per level
    of the tree, not the whole province's thousands of units for one User)."""
    wanted = set(
        session.scalars(
            select(Assignment.unit_id)
            .where(among(session, Assignment.person_id, [p.id for p in people]))
            .distinct()
        )
    )
    rows: dict[uuid.UUID, Any] = {}
    while wanted:
        found = session.execute(select(*UNIT_COLUMNS).where(OrgUnit.id.in_(list(wanted))))
        for row in found:
            rows[row.id] = row
        wanted = {r.parent_id for r in rows.values() if r.parent_id and r.parent_id not in rows}
    return UnitDirectory(rows.values())


def users(session: Session, people: Sequence[Person], view: View) -> list[Any]:
    """The SCIM Users of these people, in order: a constant number of queries per page."""
    today = dt.date.today()
    snaps = person_snapshots(session, people, unit_directory(session, people), today)
    modified = last_modified(session, people)
    return [_user(p, snaps[p.id], modified[p.id], view) for p in people]


SCHEMA_URNS = [URN(HubUser.__schema__), URN(EnterpriseUser.__schema__), URN(IdhubUser.__schema__)]
