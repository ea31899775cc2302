"""Granting and revoking administrative roles by hand: audited, dated, never more than
the grantor holds.

`may_grant(role)` is the grantor's reach for a role: the subtrees where they hold it (or
are province administrator); the command line and a province-wide `admin` client reach
everywhere. A grant over the whole province (no unit) needs that role province-wide.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from idhub.admin_scope import grants as held
from idhub.admin_scope.roles import ROLES
from idhub.admin_scope.scope import EVERYWHERE, OutsideScope, Scope
from idhub.changes.context import HrContext, snapshot
from idhub.errors import Conflict, Invalid, NotFound
from idhub.identity.people import get_person
from idhub.identity.units import get_unit
from idhub.models import AdminGrant, utcnow

MayGrant = Callable[[str], Scope]


def everywhere(_role: str) -> Scope:
    """The command line (the operator on the server) may grant anything."""
    return EVERYWHERE


def _more_than_held(role: str) -> OutsideScope:
    return OutsideScope(
        f"Không thể cấp quyền vượt quá quyền mình có: {role}. / You cannot grant more than "
        f"you hold: {role} there.",
        code="grant_exceeds_own",
    )


def _check_reach(may_grant: MayGrant, role: str, unit_id: uuid.UUID | None) -> None:
    reach = may_grant(role)
    if unit_id is None and not reach.everywhere:
        raise _more_than_held(role)
    if not reach.covers(unit_id):
        raise _more_than_held(role)


def get_grant(session: Session, grant_id: uuid.UUID) -> AdminGrant:
    grant = session.get(AdminGrant, grant_id)
    if grant is None:
        raise NotFound(f"No grant with id {grant_id}.", code="admin_grant_not_found")
    return grant


def grant_role(ctx: HrContext, data: dict[str, Any], may_grant: MayGrant) -> AdminGrant:
    """A role over a unit's subtree (or the province) for a person. An API client is
    limited by its own subtree (`idhub client create --subtree`), not by grants."""
    role, unit_id = data["role"], data.get("unit_id")
    if role not in ROLES:
        raise Invalid(f"Unknown role {role!r}.", details={"role": [f"One of {', '.join(ROLES)}."]})
    person_id = data.get("person_id")
    if person_id is None:
        raise Invalid(
            "A grant is for a person (an API client is limited by its subtree).",
            details={"person_id": ["Required."]},
        )
    get_person(ctx.session, person_id)
    if unit_id is not None:
        get_unit(ctx.session, unit_id)
    _check_reach(may_grant, role, unit_id)
    start = data.get("valid_from") or dt.date.today()
    end = data.get("valid_to")
    if end is not None and end < start:
        raise Invalid(
            "valid_to is before valid_from.", details={"valid_to": ["Before valid_from."]}
        )
    grant = AdminGrant(
        id=uuid.uuid4(),
        person_id=person_id,
        role=role,
        unit_id=unit_id,
        valid_from=start,
        valid_to=end,
        reason=data.get("reason") or ctx.reason,
        granted_by=f"{ctx.actor.type}:{ctx.actor.id}" if ctx.actor.id else ctx.actor.type,
        created_at=utcnow(),
    )
    ctx.session.add(grant)
    ctx.record_create(grant, "admin_grant.create")
    return grant


def revoke(ctx: HrContext, grant: AdminGrant, may_grant: MayGrant) -> AdminGrant:
    """End a grant now (the row stays, as history); only by someone who could grant it."""
    _check_reach(may_grant, grant.role, grant.unit_id)
    if ctx.actor.type == "person" and ctx.actor.id == str(grant.person_id):
        # Another administrator ends it: one click must not lock the last one out.
        raise Conflict(
            "Không thể tự thu hồi quyền quản trị của chính mình. / You cannot revoke your "
            "own administrative role; another administrator can.",
            code="admin_grant_own",
        )
    if grant.revoked_at is not None:
        raise Conflict("The grant is already revoked.", code="admin_grant_revoked")
    before = snapshot(grant)
    grant.revoked_at = utcnow()
    ctx.record_change(grant, before, "admin_grant.revoke")
    return grant


def listed(scope: Scope, filters: dict[str, Any], session: Session) -> Select:
    """Grants over units in `scope` (province-wide grants only for a province-wide scope)."""
    query = select(AdminGrant).order_by(AdminGrant.created_at.desc(), AdminGrant.id)
    for name in ("person_id", "client_id", "role", "unit_id"):
        if name in filters:
            query = query.where(getattr(AdminGrant, name) == filters[name])
    if filters.get("active_on"):
        query = query.where(*held.valid_on(filters["active_on"]))
    if not scope.everywhere:
        units = list(scope.units or ())
        query = query.where(AdminGrant.unit_id.in_(units)) if units else query.where(false())
    return query
