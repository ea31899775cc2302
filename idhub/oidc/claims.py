"""ID token and userinfo claims, from HR (the truth) and the provisioning rules.

Scopes decide which claims an app sees:

| scope     | claims |
|-----------|--------|
| openid    | sub (the person's UUID, never reused) |
| profile   | name, family_name, middle_name, given_name, preferred_username |
| email     | email, email_verified (the official mailbox the hub provisions) |
| org       | unit {code, name}, position, units (every unit with a post today) |
| roles     | app_roles, app_roles_by_unit, delegated_app_roles (the client's own app only,
|           | see idhub/oidc/app_claims.py); roles, groups (clients with `hub_roles`) |

Without a client (the hub's own pages, the HR API's check of a person's token) `roles`
gives every application role the person holds everywhere, undelegated.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, aliased

from idhub.db import get_db
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import Assignment, OAuthClient, OrgUnit, Person, PersonStatus
from idhub.oidc.app_claims import app_claims
from idhub.services import current_hub
from provisioning.model import AccountState, PersonSnapshot, PostKind, PostSnapshot
from provisioning.policy import desired_account

SUPPORTED_CLAIMS = [
    "sub",
    "name",
    "family_name",
    "middle_name",
    "given_name",
    "preferred_username",
    "email",
    "email_verified",
    "unit",
    "position",
    "units",
    "roles",
    "app_roles",
    "app_roles_by_unit",
    "delegated_app_roles",
    "groups",
]


def _units_above_posts() -> Select:
    """The units of a person's posts and every unit above them (a recursive CTE): the
    part of the unit tree one person's claims read, not the whole province's."""
    columns = ("id", "parent_id", "code", "name", "type", "mail_domain", "status")
    seeds = select(Assignment.unit_id).where(Assignment.person_id == bindparam("person_id"))
    tree = (
        select(*(getattr(OrgUnit, c) for c in columns))
        .where(OrgUnit.id.in_(seeds))
        .cte("units_above", recursive=True)
    )
    parent = aliased(OrgUnit)
    tree = tree.union(  # UNION, not UNION ALL: a unit reached twice is kept once
        select(*(getattr(parent, c) for c in columns)).join(tree, parent.id == tree.c.parent_id)
    )
    return select(tree)


_UNITS_ABOVE_POSTS = _units_above_posts()  # built once


def units_of(session: Session, person_id: uuid.UUID) -> UnitDirectory:
    """The units a person's snapshot reads: their posts' and every unit above them."""
    return UnitDirectory(session.execute(_UNITS_ABOVE_POSTS, {"person_id": person_id}))


def _primary_post(snapshot: PersonSnapshot) -> tuple[PostSnapshot | None, list[PostSnapshot]]:
    active = [p for p in snapshot.posts if p.active_on(snapshot.today)]
    if not active:
        return None, []
    ranked = sorted(
        active, key=lambda p: (p.kind is not PostKind.PRIMARY, -p.leadership_level, p.unit.code)
    )
    return ranked[0], active


def _full_name(person: Person) -> str:
    """`Person.full_name`, also for a row with the person's columns."""
    names = (person.family_name, person.middle_name, person.given_name)
    return " ".join(n for n in names if n)


def person_claims(
    session: Session,
    person: Person,
    scopes: set[str],
    client: OAuthClient | None = None,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """Every claim the given scopes allow, for one person (the model, or a row with its
    columns: the token endpoint reads plain rows), as `client` may see them."""
    today = today or dt.date.today()
    claims: dict[str, Any] = {"sub": str(person.id)}
    if "profile" in scopes:
        claims.update(
            name=_full_name(person),
            family_name=person.family_name,
            given_name=person.given_name,
            preferred_username=person.username,
        )
        if person.middle_name:
            claims["middle_name"] = person.middle_name
    need_policy = bool(scopes & {"email", "org", "roles"})
    if not need_policy or not person.username:
        return claims
    units = units_of(session, person.id)
    snapshot = person_snapshots(session, [person], units, today)[person.id]
    hub = current_hub()
    desired = desired_account(snapshot, hub.rules, base_dn=hub.connectors.base_dn)
    if "email" in scopes:
        mail = desired.attributes.get("mail", ())
        if mail:
            claims["email"] = mail[0]
            claims["email_verified"] = True  # issued by the hub itself
    if "org" in scopes:
        primary, active = _primary_post(snapshot)
        if primary is not None:
            claims["unit"] = {"code": primary.unit.code, "name": primary.unit.name}
            claims["position"] = primary.position_name
            claims["units"] = sorted({p.unit.code for p in active})
    if "roles" in scopes:
        enabled = desired.state is AccountState.ENABLED
        if client is None or client.hub_roles:
            claims["roles"] = list(desired.roles) if enabled else []
            claims["groups"] = sorted(_cn(dn) for dn in desired.groups) if enabled else []
        if client is None:
            claims["app_roles"] = list(desired.app_roles) if enabled else []
        elif enabled:
            claims.update(app_claims(session, person, desired, client.app_key, today))
        else:
            claims.update(app_claims(session, person, desired, None, today))
    return claims


def _cn(dn: str) -> str:
    first = dn.split(",", 1)[0]
    return first.split("=", 1)[1] if "=" in first else first


def app_roles_of(person_id: uuid.UUID) -> set[str]:
    """A person's application roles today (none once they cannot sign in): what the HR
    API checks a person's token against (web/bearer.py)."""
    session = get_db().session(write=False)
    try:
        person = session.get(Person, person_id)
        if not person_can_sign_in(person):
            return set()
        assert person is not None
        return set(person_claims(session, person, {"roles"}).get("app_roles", ()))
    finally:
        session.close()


def person_can_sign_in(person: Person | None) -> bool:
    return person is not None and person.status is PersonStatus.ACTIVE


def load_person(session: Session, person_id: uuid.UUID | str) -> Person | None:
    if isinstance(person_id, str):
        try:
            person_id = uuid.UUID(person_id)
        except ValueError:
            return None
    return session.get(Person, person_id)
