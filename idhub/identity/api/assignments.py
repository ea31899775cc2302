"""/api/v1/assignments: who holds which position in which unit, when (never hard-deleted)."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import or_, select

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
    IDEMPOTENCY_DOC,
    READ_SCOPES,
    WRITE_SCOPES,
    create_one,
    hr_context,
    paginate,
    patch_one,
    read_one,
    require_if_match,
    scoped,
    with_etag,
    writes,
)
from idhub.web.schemas import ErrorSchema

blp = Blueprint(
    "assignments",
    __name__,
    url_prefix="/api/v1/assignments",
    description="Assignments: person × unit × position, primary or concurrent (kiêm nhiệm).",
)


@blp.route("")
class Assignments(MethodView):
    @scoped(blp, READ_SCOPES)
    @blp.arguments(AssignmentQuerySchema, location="query")
    @blp.response(200, AssignmentSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, filters, pagination_parameters):
        """List assignments (filter by person, unit, position, kind, day)."""
        query = select(Assignment).order_by(Assignment.start_date.desc(), Assignment.id)
        for field in ("person_id", "unit_id", "position_id", "kind"):
            if field in filters:
                query = query.where(getattr(Assignment, field) == filters[field])
        if "active_on" in filters:
            day = filters["active_on"]
            query = query.where(
                Assignment.start_date <= day,
                or_(Assignment.end_date.is_(None), Assignment.end_date >= day),
            )
        return paginate(query, pagination_parameters)

    @create_one(blp, AssignmentSchema, AssignmentSchema, "Overlaps a primary or the same post.")
    def post(self, data):
        """Assign a person to a position in a unit (primary or concurrent)."""
        assignment = assignments.create_assignment(hr_context(), data)
        return with_etag(assignment, 201, {"Location": f"/api/v1/assignments/{assignment.id}"})


@blp.route("/<uuid:assignment_id>")
class AssignmentById(MethodView):
    @read_one(blp, AssignmentSchema, "assignment")
    def get(self, assignment_id: uuid.UUID):
        """Get one assignment."""
        return with_etag(assignments.get_assignment(db_session(), assignment_id))

    @patch_one(blp, AssignmentPatchSchema, AssignmentSchema, "assignment")
    def patch(self, changes, assignment_id: uuid.UUID):
        """Correct an assignment (position, kind, start date, decision; send If-Match)."""
        assignment = assignments.get_assignment(db_session(), assignment_id)
        require_if_match(assignment)
        return with_etag(assignments.update_assignment(hr_context(), assignment, changes))


@blp.route("/<uuid:assignment_id>/end")
class AssignmentEnd(MethodView):
    @scoped(blp, WRITE_SCOPES)
    @writes
    @blp.doc(**IDEMPOTENCY_DOC)
    @blp.arguments(AssignmentEndSchema)
    @blp.response(200, AssignmentSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such assignment.")
    @blp.alt_response(409, schema=ErrorSchema, description="Already ended.")
    def post(self, data, assignment_id: uuid.UUID):
        """End an assignment on a day (the record stays, as history)."""
        assignment = assignments.get_assignment(db_session(), assignment_id)
        ctx = hr_context(reason=data.get("reason"))
        return with_etag(
            assignments.end_assignment(
                ctx,
                assignment,
                end_date=data["end_date"],
                decision_ref=data.get("decision_ref"),
                reason=data.get("reason"),
            )
        )
