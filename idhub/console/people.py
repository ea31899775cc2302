"""People: a paged list narrowed to the viewer's scope, searched accent-insensitively by
name, by CCCD (through identity/personal.py, the one door for it), by username, by unit.

A page costs a fixed number of statements: the people, their count, then their current
posts with units and positions in one batch (no query per row)."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections import defaultdict
from typing import Any

from flask import request
from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.admin_scope import visible
from idhub.admin_scope.scope import Scope
from idhub.console.frame import (
    PAGE_SIZE,
    bp,
    page_number,
    render_console,
    require,
    section,
)
from idhub.db import among, get_db
from idhub.identity.personal import cccd_clause
from idhub.models import Assignment, OrgUnit, Person, Position
from idhub.oidc.i18n import t
from provisioning.naming import search_key

READ = ("hr:read", "hr:write", "admin")
CCCD = re.compile(r"^\d{12}$")
USERNAME = re.compile(r"^[a-z0-9._-]+$")


def _open_on(day: dt.date) -> Any:
    return (Assignment.start_date <= day) & or_(
        Assignment.end_date.is_(None), Assignment.end_date >= day
    )


def search(session: Session, scope: Scope, q: str, unit_code: str) -> Select:
    """The people matching `q` (CCCD, username or part of a name, accents ignored) and
    holding a post today in the unit `unit_code`, as far as `scope` reaches."""
    query = visible.people(select(Person), session, scope)
    q = q.strip()
    if CCCD.match(q):
        query = query.where(cccd_clause(q))
    elif q:
        needle = search_key(q)
        escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        by_name = Person.search_name.like(f"%{escaped}%", escape="\\")
        lowered = q.lower()
        query = query.where(
            or_(by_name, Person.username == lowered) if USERNAME.match(lowered) else by_name
        )
    if unit_code.strip():
        unit_ids = list(
            session.scalars(select(OrgUnit.id).where(OrgUnit.code == unit_code.strip().upper()))
        )
        if not unit_ids:
            return query.where(false())
        today = dt.date.today()
        query = query.where(
            Person.id.in_(
                select(Assignment.person_id).where(
                    among(session, Assignment.unit_id, unit_ids), _open_on(today)
                )
            )
        )
    return query


def current_posts(session: Session, person_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    """Each person's posts held today, primary first, with unit and position: one query."""
    if not person_ids:
        return {}
    rows = session.execute(
        select(
            Assignment.person_id,
            Assignment.kind,
            OrgUnit.id.label("unit_id"),
            OrgUnit.code.label("unit_code"),
            OrgUnit.name.label("unit_name"),
            Position.name.label("position"),
        )
        .join(OrgUnit, OrgUnit.id == Assignment.unit_id)
        .join(Position, Position.id == Assignment.position_id)
        .where(among(session, Assignment.person_id, person_ids), _open_on(dt.date.today()))
        .order_by(Assignment.kind, Assignment.start_date)
    )
    posts: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in rows:
        posts[row.person_id].append(row)
    return posts


@bp.get("/people")
def people() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    scope = admin.scope(*READ)
    q = request.args.get("q", "")[:200]
    unit_code = request.args.get("unit", "")[:32]
    page = page_number()
    with get_db().reading() as session:
        query = search(session, scope, q, unit_code)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(
            session.scalars(
                query.order_by(Person.search_name, Person.id)
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
        )
        posts = current_posts(session, [p.id for p in rows])
        return render_console(
            "console_people.html",
            title=t("console.people.title"),
            people=rows,
            posts=posts,
            total=total,
            q=q,
            unit=unit_code,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
        )


section("console.people", "console.people.title", READ)
