"""/api/v1/assignments: who holds which position in which unit, when (never hard-deleted)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import Select, or_, select

from idhub.admin_scope import visible
from idhub.changes.context import HrContext
from idhub.db import db_session
from idhub.identity import assignments
from idhub.identity.schemas import (
    AssignmentEndSchema,
    AssignmentPatchSchema,
    AssignmentQuerySchema,
    AssignmentSchema,
)
from idhub.models import Assignment
from idhub.web.common import (
    Docs,
    Resource,
    create_one,
    current_scope,
    hr_context,
    where_equal,
    with_etag,
)
from idhub.web.schemas import ErrorSchema

blp = Blueprint(
    "assignments",
    __name__,
    url_prefix="/api/v1/assignments",
    description="Assignments: person × unit × position, primary or concurrent (kiêm nhiệm).",
)


def _listed(filters: dict) -> Select:
    query = select(Assignment).order_by(Assignment.start_date.desc(), Assignment.id)
    query = visible.units(query, db_session(), current_scope(), Assignment.unit_id)
    query = where_equal(query, Assignment, filters, ("person_id", "unit_id", "position_id", "kind"))
    if "active_on" in filters:
        day = filters["active_on"]
        query = query.where(
            Assignment.start_date <= day,
            or_(Assignment.end_date.is_(None), Assignment.end_date >= day),
        )
    return query


Assignments, AssignmentById = Resource(
    blp,
    "",
    "assignment_id",
    "assignment",
    AssignmentSchema,
    AssignmentPatchSchema,
    AssignmentQuerySchema,
).views(
    ("Assignments", "AssignmentById"),
    Docs(
        list="List assignments (filter by person, unit, position, kind, day).",
        create="Assign a person to a position in a unit (primary or concurrent).",
        get="Get one assignment.",
        patch="Correct an assignment (position, kind, start date, decision; send If-Match).",
    ),
    listed=_listed,
    create=assignments.create_assignment,
    conflict="Overlaps a primary or the same post.",
    fetch=assignments.get_assignment,
    update=assignments.update_assignment,
)


@blp.route("/<uuid:assignment_id>/end")
class AssignmentEnd(MethodView):
    @create_one(blp, AssignmentEndSchema, AssignmentSchema, "Already ended.", status=200)
    @blp.alt_response(404, schema=ErrorSchema, description="No such assignment.")
    def post(self, data, assignment_id: uuid.UUID):
        """End an assignment on a day (the record stays, as history)."""
        assignment = assignments.get_assignment(db_session(), assignment_id)
        return with_etag(end_as_asked(hr_context(reason=data.get("reason")), assignment, data))


def end_as_asked(ctx: HrContext, assignment: Assignment, data: dict[str, Any]) -> Assignment:
    """End an assignment as an AssignmentEndSchema body asks (also a batch item's)."""
    return assignments.end_assignment(
        ctx,
        assignment,
        end_date=data["end_date"],
        decision_ref=data.get("decision_ref"),
        reason=data.get("reason"),
    )
