"""/api/v1/positions: the position catalogue."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from ..db import db_session
from ..hr import positions
from ..models import Position
from .common import (
    IDEMPOTENCY_DOC,
    IF_MATCH_DOC,
    READ_SCOPES,
    WRITE_SCOPES,
    hr_context,
    paginate,
    require_if_match,
    scoped,
    with_etag,
    writes,
)
from .schemas import ErrorSchema, PositionPatchSchema, PositionQuerySchema, PositionSchema

blp = Blueprint(
    "positions", __name__, url_prefix="/api/v1/positions", description="Positions (chức vụ)."
)


@blp.route("")
class Positions(MethodView):
    @scoped(blp, READ_SCOPES)
    @blp.arguments(PositionQuerySchema, location="query")
    @blp.response(200, PositionSchema(many=True))
    @blp.paginate(page_size=100, max_page_size=500)
    def get(self, filters, pagination_parameters):
        """List positions."""
        query = select(Position).order_by(Position.leadership_level.desc(), Position.code)
        if "code" in filters:
            query = query.where(Position.code == filters["code"])
        return paginate(query, pagination_parameters)

    @scoped(blp, WRITE_SCOPES)
    @writes
    @blp.doc(**IDEMPOTENCY_DOC)
    @blp.arguments(PositionSchema)
    @blp.response(201, PositionSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Code already used.")
    def post(self, data):
        """Add a position to the catalogue."""
        position = positions.create_position(hr_context(), data)
        return with_etag(position, 201, {"Location": f"/api/v1/positions/{position.id}"})


@blp.route("/<uuid:position_id>")
class PositionById(MethodView):
    @scoped(blp, READ_SCOPES)
    @blp.response(200, PositionSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such position.")
    def get(self, position_id: uuid.UUID):
        """Get one position."""
        return with_etag(positions.get_position(db_session(), position_id))

    @scoped(blp, WRITE_SCOPES)
    @writes
    @blp.doc(**IF_MATCH_DOC)
    @blp.arguments(PositionPatchSchema)
    @blp.response(200, PositionSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such position.")
    @blp.alt_response(409, schema=ErrorSchema, description="Code already used.")
    @blp.alt_response(412, schema=ErrorSchema, description="ETag does not match.")
    @blp.alt_response(428, schema=ErrorSchema, description="If-Match missing.")
    def patch(self, changes, position_id: uuid.UUID):
        """Change a position (send If-Match)."""
        position = positions.get_position(db_session(), position_id)
        require_if_match(position)
        return with_etag(positions.update_position(hr_context(), position, changes))
