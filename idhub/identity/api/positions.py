"""/api/v1/positions: the position catalogue."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import Select, select

from idhub.identity import positions
from idhub.identity.schemas import PositionPatchSchema, PositionQuerySchema, PositionSchema
from idhub.models import Position
from idhub.web.common import Docs, Resource, where_equal

blp = Blueprint(
    "positions", __name__, url_prefix="/api/v1/positions", description="Positions (chức vụ)."
)


def _listed(filters: dict) -> Select:
    query = select(Position).order_by(Position.leadership_level.desc(), Position.code)
    return where_equal(query, Position, filters, ("code",))


Positions, PositionById = Resource(
    blp,
    "",
    "position_id",
    "position",
    PositionSchema,
    PositionPatchSchema,
    PositionQuerySchema,
    page_size=100,
).views(
    ("Positions", "PositionById"),
    Docs(
        list="List positions.",
        create="Add a position to the catalogue.",
        get="Get one position.",
        patch="Change a position (send If-Match).",
    ),
    listed=_listed,
    create=positions.create_position,
    conflict="Code already used.",
    fetch=positions.get_position,
    update=positions.update_position,
)
