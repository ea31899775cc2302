"""Who administers what, at the console: the grants by hand over units in one's scope,
the roles given by rule (a post listed in `[admin_posts]` held today), granting a role
over a subtree with dates and a reason, revoking one with a reason.

The same service as /api/v1/admin-grants (`idhub/admin/grants.py`) with the same
`may_grant`: nobody grants more than they hold (a province-wide `admin` everywhere,
otherwise where they hold the role or are province administrator).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import abort, redirect, request, url_for
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from idhub.admin import grants
from idhub.admin_scope import grants as held_roles
from idhub.admin_scope import visible
from idhub.admin_scope.roles import LABELS, ROLES
from idhub.admin_scope.scope import EVERYWHERE, Scope
from idhub.console.changesets import error_text
from idhub.console.frame import (
    Admin,
    bp,
    form_reason,
    form_values,
    render_console,
    require,
    require_form,
    section,
)
from idhub.db import get_db
from idhub.errors import DomainError, Invalid
from idhub.identity.units import unit_by_code
from idhub.models import AdminGrant, Assignment, OrgUnit, Person, Position
from idhub.oidc.i18n import t
from idhub.services import current_hub

ANY_ADMIN = ("hr:read", "hr:write", "audit:read", "admin", "access:reset")
LIMIT = 1000

section("console.grants_list", "console.grants.title.list", ANY_ADMIN)


def may_grant(admin: Admin) -> grants.MayGrant:
    """As the API's `may_grant` for a person's token."""

    def reach(role: str) -> Scope:
        if "admin" in admin.province:
            return EVERYWHERE
        with get_db().session(write=False) as session:
            return held_roles.grantable(session, admin.held, role)

    return reach


def _labels(session: Any, people: set, units: set) -> tuple[dict, dict]:
    names = (
        {
            p.id: f"{p.full_name} ({p.username})"
            for p in session.scalars(select(Person).where(Person.id.in_(people)))
        }
        if people
        else {}
    )
    codes = (
        {
            u.id: f"{u.code} — {u.name}"
            for u in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(units)))
        }
        if units
        else {}
    )
    return names, codes


def _by_rule(session: Any, scope: Scope) -> list[tuple[Any, Any, str, tuple[str, ...]]]:
    """Posts held today that give roles by the rules: (person, unit, position, roles)."""
    admin_posts = current_hub().rules.admin_posts
    if not admin_posts:
        return []
    today = dt.date.today()
    query = (
        select(Assignment.person_id, Assignment.unit_id, Position.code)
        .join(Position, Position.id == Assignment.position_id)
        .where(
            Position.code.in_(list(admin_posts)),
            Assignment.start_date <= today,
            or_(Assignment.end_date.is_(None), Assignment.end_date >= today),
        )
        .order_by(Position.code)
    )
    query = visible.units(query, session, scope, Assignment.unit_id)
    return [
        (p, u, code, tuple(admin_posts[code])) for p, u, code in session.execute(query.limit(LIMIT))
    ]


def _page(admin: Admin, status: int = 200, **extra: Any) -> Response:
    scope = admin.scope(*ANY_ADMIN)
    show_all = request.args.get("all") == "1"
    with get_db().reading() as session:
        filters: dict[str, Any] = {} if show_all else {"active_on": dt.date.today()}
        rows = list(session.scalars(grants.listed(scope, filters, session).limit(LIMIT)))
        rules = _by_rule(session, scope)
        people = {g.person_id for g in rows if g.person_id} | {r[0] for r in rules}
        units = {g.unit_id for g in rows if g.unit_id} | {r[1] for r in rules}
        names, codes = _labels(session, people, units)
        session.expunge_all()
    return render_console(
        "console_grants.html",
        status,
        title=t("console.grants.title.list"),
        rows=rows,
        rules=rules,
        names=names,
        codes=codes,
        roles=ROLES,
        labels=LABELS,
        show_all=show_all,
        form=extra.pop("form", {}),
        field_errors=extra.pop("field_errors", []),
        today=dt.date.today(),
        **extra,
    )


@bp.get("/grants")
def grants_list() -> Response:
    admin = require(*ANY_ADMIN)
    if isinstance(admin, Response):
        return admin
    done = request.args.get("done", "")
    notice = t(f"console.grants.notice.{done}") if done in ("granted", "revoked") else None
    return _page(admin, notice=notice)


def _date(text: str, name: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{name}: not a date.", details={name: [text]}) from None


def _grant_data(session: Any, form: dict[str, str], bad: set[str]) -> dict[str, Any]:
    problems: dict[str, list[str]] = {name: [form[name]] for name in bad}
    person = session.scalar(select(Person).where(Person.username == form["person"].lower()))
    if person is None:
        problems["person"] = [form["person"]]
    unit_id = None
    if form["unit"]:
        try:
            unit_id = unit_by_code(session, form["unit"]).id
        except DomainError:
            problems["unit"] = [form["unit"]]
    if form["role"] not in ROLES:
        problems["role"] = [form["role"]]
    if not form["reason"]:
        problems["reason"] = [""]
    if problems:
        raise Invalid("The grant is not valid.", details=problems)
    return {
        "person_id": person.id,
        "role": form["role"],
        "unit_id": unit_id,
        "valid_from": _date(form["valid_from"], "valid_from"),
        "valid_to": _date(form["valid_to"], "valid_to"),
        "reason": form["reason"],
    }


@bp.post("/grants")
def grants_create() -> Response:
    admin = require(*ANY_ADMIN)
    if isinstance(admin, Response):
        return admin
    require_form()
    names = ("person", "role", "unit", "valid_from", "valid_to", "reason")
    form, bad = form_values(names)
    try:
        with get_db().transaction() as session:
            data = _grant_data(session, form, bad)
            ctx = admin.hr_context(session, form["reason"], *ANY_ADMIN)
            grants.grant_role(ctx, data, may_grant(admin))
    except DomainError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        return _page(
            admin,
            exc.status,
            error=error_text(exc, "console.grants"),
            form=form,
            field_errors=sorted(str(k) for k in details),
        )
    return redirect(url_for("console.grants_list", done="granted"), 303)


@bp.post("/grants/<grant_id>/revoke")
def grant_revoke(grant_id: str) -> Response:
    admin = require(*ANY_ADMIN)
    if isinstance(admin, Response):
        return admin
    require_form()
    try:
        found = uuid.UUID(grant_id)
    except ValueError:
        abort(404)
    reason, problem = form_reason()
    try:
        with get_db().transaction() as session:
            grant = session.get(AdminGrant, found)
            if grant is None:
                abort(404)
            try:
                visible.require_grant(session, admin.scope(*ANY_ADMIN), found)
            except DomainError:
                abort(404)
            if problem is not None:
                raise Invalid(problem, details={"reason": [reason]})
            if not reason:
                raise Invalid("A reason is required.", details={"reason": [""]})
            ctx = admin.hr_context(session, reason, *ANY_ADMIN)
            grants.revoke(ctx, grant, may_grant(admin))
    except DomainError as exc:
        return _page(admin, exc.status, error=error_text(exc, "console.grants"))
    return redirect(url_for("console.grants_list", done="revoked"), 303)
