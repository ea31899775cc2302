"""Units: the tree the viewer administers (collapsible <details>, no script) and a unit's
page: its facts, its people (paged) and its lineage (merged from / into, split, decision)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from idhub.admin_scope import visible
from idhub.console.frame import (
    PAGE_SIZE,
    bp,
    page_number,
    render_console,
    render_console_message,
    require,
    section,
)
from idhub.db import get_db
from idhub.errors import NotFound
from idhub.models import Assignment, OrgUnit, Person, Position
from idhub.oidc.i18n import t
from idhub.reorg.lineage import of_unit

READ = ("hr:read", "hr:write", "admin")


@bp.get("/units")
def units() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    scope = admin.scope(*READ)
    with get_db().reading() as session:
        query = select(
            OrgUnit.id, OrgUnit.parent_id, OrgUnit.code, OrgUnit.name, OrgUnit.status
        ).order_by(OrgUnit.code)
        rows = list(session.execute(visible.units(query, session, scope, OrgUnit.id)))
    known = {r.id for r in rows}
    children: dict[Any, list[Any]] = defaultdict(list)
    for row in rows:
        # A root of the viewer's tree: no parent, or a parent they do not administer.
        children[row.parent_id if row.parent_id in known else None].append(row)
    return render_console(
        "console_units.html", title=t("console.units.title"), children=children, count=len(rows)
    )


def current_people(unit_id: uuid.UUID, on: dt.date) -> Any:
    return (
        select(Assignment.person_id)
        .where(Assignment.unit_id == unit_id, Assignment.start_date <= on)
        .where(or_(Assignment.end_date.is_(None), Assignment.end_date >= on))
    )


@bp.get("/units/<uuid:unit_id>")
def unit(unit_id: uuid.UUID) -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    scope = admin.scope(*READ)
    page = page_number()
    today = dt.date.today()
    with get_db().reading() as session:
        try:
            visible.require_unit(session, scope, unit_id)
        except NotFound:
            return render_console_message("console.error.not_found", 404)
        row = session.get(OrgUnit, unit_id)
        if row is None:
            return render_console_message("console.error.not_found", 404)
        parent = session.get(OrgUnit, row.parent_id) if row.parent_id else None
        lineage = of_unit(session, row, today)
        posts = (
            select(
                Person.id,
                Person.family_name,
                Person.middle_name,
                Person.given_name,
                Person.username,
                Position.name.label("position"),
                Assignment.kind,
                Assignment.start_date,
                Assignment.end_date,
            )
            .join(Assignment, Assignment.person_id == Person.id)
            .join(Position, Position.id == Assignment.position_id)
            .where(Assignment.unit_id == unit_id, Assignment.start_date <= today)
            .where(or_(Assignment.end_date.is_(None), Assignment.end_date >= today))
        )
        total = session.scalar(select(func.count()).select_from(posts.subquery())) or 0
        people = list(
            session.execute(
                posts.order_by(Person.search_name, Person.id)
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
        )
        children = list(
            session.execute(
                select(OrgUnit.id, OrgUnit.code, OrgUnit.name)
                .where(OrgUnit.parent_id == unit_id)
                .order_by(OrgUnit.code)
            )
        )
        return render_console(
            "console_unit.html",
            title=f"{row.code} · {row.name}",
            unit=row,
            parent=parent if parent is not None and scope.covers(parent.id) else None,
            lineage=lineage,
            people=people,
            total=total,
            page=page,
            pages=max(1, -(-total // PAGE_SIZE)),
            children=children,
        )


section("console.units", "console.units.title", READ)
