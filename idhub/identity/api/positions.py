"""/api/v1/positions: the position catalogue."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from idhub.db import db_session
from idhub.identity import positions
from idhub.identity.schemas import PositionPatchSchema, PositionQuerySchema, PositionSchema
from idhub.models import Position
from idhub.web.common import (
    READ_SCOPES,
    create_one,
    hr_context,
    paginate,
    patch_one,
    read_one,
    require_if_match,
    scoped,
    with_etag,
)

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

    @create_one(blp, PositionSchema, PositionSchema, "Code already used.")
    def post(self, data):
        """Add a position to the catalogue."""
        position = positions.create_position(hr_context(), data)
        return with_etag(position, 201, {"Location": f"/api/v1/positions/{position.id}"})


@blp.route("/<uuid:position_id>")
class PositionById(MethodView):
    @read_one(blp, PositionSchema, "position")
    def get(self, position_id: uuid.UUID):
        """Get one position."""
        return with_etag(positions.get_position(db_session(), position_id))

    @patch_one(blp, PositionPatchSchema, PositionSchema, "position")
    def patch(self, changes, position_id: uuid.UUID):
        """Change a position (send If-Match)."""
        position = positions.get_position(db_session(), position_id)
        require_if_match(position)
        return with_etag(positions.update_position(hr_context(), position, changes))
