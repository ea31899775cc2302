"""Which administrative roles a subject holds today, and over which subtree.

Three sources, for a person signing in through the hub's sign-on:
* by hand: `admin_grant` rows valid today (validity dates inclusive, not revoked);
* by rule: `[admin_posts]` of the rules file — a post held today whose position code is
  listed gives its roles over the post's unit (gone the day the post ends);
* the province-wide application roles `idhub:*` of the rules (web/bearer.py), as before.
An API client holds the scopes it was registered with, over its `subtree_unit_id` (or the
whole province).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from idhub.admin_scope.roles import ROLE_SCOPES
from idhub.admin_scope.scope import EVERYWHERE, Scope, scope_of
from idhub.models import AdminGrant, Assignment, OAuthClient, Person, PersonStatus, Position
from provisioning.rules import Rules


@dataclass(frozen=True)
class Held:
    """One role over one subtree (`unit_id` None: the province), and where it comes from."""

    role: str
    unit_id: uuid.UUID | None
    source: str  # "hand" | "rule"
    grant_id: uuid.UUID | None = None
    valid_to: dt.date | None = None


def valid_on(day: dt.date) -> list:
    return [
        AdminGrant.revoked_at.is_(None),
        AdminGrant.valid_from <= day,
        or_(AdminGrant.valid_to.is_(None), AdminGrant.valid_to >= day),
    ]


def held_by_person(
    session: Session, person_id: uuid.UUID, rules: Rules, day: dt.date | None = None
) -> list[Held]:
    """A person's administrative roles today: none unless the person is active."""
    day = day or dt.date.today()
    status = session.scalar(select(Person.status).where(Person.id == person_id))
    if status != PersonStatus.ACTIVE:
        return []
    held = [
        Held(g.role, g.unit_id, "hand", g.id, g.valid_to)
        for g in session.scalars(
            select(AdminGrant).where(AdminGrant.person_id == person_id, *valid_on(day))
        )
    ]
    if rules.admin_posts:
        posts = session.execute(
            select(Assignment.unit_id, Position.code)
            .join(Position, Position.id == Assignment.position_id)
            .where(
                Assignment.person_id == person_id,
                Assignment.start_date <= day,
                or_(Assignment.end_date.is_(None), Assignment.end_date >= day),
                Position.code.in_(list(rules.admin_posts)),
            )
        )
        held += [
            Held(role, unit_id, "rule")
            for unit_id, code in posts
            for role in rules.admin_posts[code]
        ]
    return held


def scopes_of(held: Iterable[Held]) -> set[str]:
    """The API scopes these roles bring (somewhere)."""
    return {scope for h in held for scope in ROLE_SCOPES.get(h.role, ())}


def person_scope(
    session: Session,
    held: Iterable[Held],
    province_scopes: set[str],
    needed: Iterable[str],
) -> Scope:
    """What a person may reach with a token needing any of `needed`: the whole province
    when a province-wide app role brings one of them, else the subtrees of the roles
    that do."""
    needed = set(needed)
    if needed & province_scopes:
        return EVERYWHERE
    return scope_of(session, [h.unit_id for h in held if ROLE_SCOPES.get(h.role, set()) & needed])


def client_scope(session: Session, client_id: str | None) -> Scope:
    """An API client's own token: its subtree, or the whole province."""
    if client_id is None:
        return EVERYWHERE
    root = session.scalar(
        select(OAuthClient.subtree_unit_id).where(OAuthClient.client_id == client_id)
    )
    return EVERYWHERE if root is None else scope_of(session, [root])


def grantable(session: Session, held: Iterable[Held], role: str) -> Scope:
    """Where a holder may grant `role`: the subtrees where they hold it or are province
    administrator (nobody grants more than they hold)."""
    return scope_of(session, [h.unit_id for h in held if h.role in (role, "province_admin")])
