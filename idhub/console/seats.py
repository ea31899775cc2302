"""Seat mailboxes at the console: the mailboxes of posts (hộp thư theo chức danh) in
one's scope, their address, the holders let in at the last converge and their state.

Read-only, as /api/v1/seats: seats appear and change with the posts that hold them.
"""

from __future__ import annotations

from flask import request
from sqlalchemy import func, or_, select
from werkzeug.wrappers import Response

from idhub.admin_scope import visible
from idhub.console.frame import (
    PAGE_SIZE,
    bp,
    page_number,
    render_console,
    require,
    section,
)
from idhub.db import get_db
from idhub.identity.snapshots import UnitDirectory
from idhub.models import OrgUnit, Seat
from idhub.oidc.i18n import t

READ = ("hr:read", "hr:write", "admin")

section("console.seats_list", "console.seats.title.list", READ)


@bp.get("/seats")
def seats_list() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    page = page_number()
    text = request.args.get("q", "").strip().lower()[:100]
    with get_db().reading() as session:
        query = select(Seat, OrgUnit.code).join(OrgUnit, OrgUnit.id == Seat.unit_id)
        query = visible.units(query, session, admin.scope(*READ), Seat.unit_id)
        if text:
            like = f"%{text}%"
            query = query.where(
                or_(
                    func.lower(Seat.uid).like(like),
                    func.lower(Seat.position_code).like(like),
                    func.lower(OrgUnit.code).like(like),
                )
            )
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(
            query.order_by(Seat.uid).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ).all()
        units = UnitDirectory.load(session)
        shown = []
        for seat, code in rows:
            domain = units.get(seat.unit_id).mail_domain
            shown.append(
                {
                    "seat": seat,
                    "unit": code,
                    "address": f"{seat.uid}@{domain.strip().lower()}" if domain else "",
                    "holders": list(seat.holders or []),
                }
            )
        session.expunge_all()
    return render_console(
        "console_seats.html",
        title=t("console.seats.title.list"),
        rows=shown,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        q=text,
    )
