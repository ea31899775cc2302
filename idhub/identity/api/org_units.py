"""/api/v1/org-units: the org tree (units, children, subtree, ancestors)."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from idhub.db import db_session
from idhub.identity import units
from idhub.identity.schemas import OrgUnitPatchSchema, OrgUnitQuerySchema, OrgUnitSchema
from idhub.models import OrgUnit
from idhub.web.common import (
    READ_SCOPES,
    contains,
    create_one,
    hr_context,
    paginate,
    patch_one,
    read_one,
    require_if_match,
    scoped,
    with_etag,
)
from idhub.web.schemas import ErrorSchema

blp = Blueprint(
    "org-units", __name__, url_prefix="/api/v1/org-units", description="Org units (the org tree)."
)
PAGE = {"page_size": 50, "max_page_size": 500}


@blp.route("")
class OrgUnits(MethodView):
    @scoped(blp, READ_SCOPES)
    @blp.arguments(OrgUnitQuerySchema, location="query")
    @blp.response(200, OrgUnitSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, filters, pagination_parameters):
        """List org units (filter by code, type, status, parent, name)."""
        query = select(OrgUnit).order_by(OrgUnit.code, OrgUnit.id)
        for field in ("code", "type", "status", "parent_id"):
            if field in filters:
                query = query.where(getattr(OrgUnit, field) == filters[field])
        if "q" in filters:
            query = query.where(contains(OrgUnit.search_name, filters["q"]))
        return paginate(query, pagination_parameters)

    @create_one(blp, OrgUnitSchema, OrgUnitSchema, "Code already used by an active unit.")
    def post(self, data):
        """Create an org unit."""
        unit = units.create_unit(hr_context(), data)
        return with_etag(unit, 201, {"Location": f"/api/v1/org-units/{unit.id}"})


@blp.route("/<uuid:unit_id>")
class OrgUnitById(MethodView):
    @read_one(blp, OrgUnitSchema, "unit")
    def get(self, unit_id: uuid.UUID):
        """Get one org unit."""
        return with_etag(units.get_unit(db_session(), unit_id))

    @patch_one(blp, OrgUnitPatchSchema, OrgUnitSchema, "unit")
    def patch(self, changes, unit_id: uuid.UUID):
        """Change fields of an org unit (send If-Match)."""
        unit = units.get_unit(db_session(), unit_id)
        require_if_match(unit)
        return with_etag(units.update_unit(hr_context(), unit, changes))


@blp.route("/<uuid:unit_id>/children")
class OrgUnitChildren(MethodView):
    @scoped(blp, READ_SCOPES)
    @blp.response(200, OrgUnitSchema(many=True))
    @blp.alt_response(404, schema=ErrorSchema, description="No such unit.")
    @blp.paginate(**PAGE)
    def get(self, unit_id: uuid.UUID, pagination_parameters):
        """Direct sub-units of a unit."""
        units.get_unit(db_session(), unit_id)
        query = (
            select(OrgUnit).where(OrgUnit.parent_id == unit_id).order_by(OrgUnit.code, OrgUnit.id)
        )
        return paginate(query, pagination_parameters)


@blp.route("/<uuid:unit_id>/subtree")
class OrgUnitSubtree(MethodView):
    @scoped(blp, READ_SCOPES)
    @blp.response(200, OrgUnitSchema(many=True))
    @blp.alt_response(404, schema=ErrorSchema, description="No such unit.")
    @blp.paginate(**PAGE)
    def get(self, unit_id: uuid.UUID, pagination_parameters):
        """Every unit below a unit, nearest first."""
        units.get_unit(db_session(), unit_id)
        return paginate(units.subtree_query(unit_id), pagination_parameters)


@blp.route("/<uuid:unit_id>/ancestors")
class OrgUnitAncestors(MethodView):
    @scoped(blp, READ_SCOPES)
    @blp.response(200, OrgUnitSchema(many=True))
    @blp.alt_response(404, schema=ErrorSchema, description="No such unit.")
    def get(self, unit_id: uuid.UUID):
        """The chain of parents, from the root down to the unit's parent."""
        units.get_unit(db_session(), unit_id)
        return units.ancestors(db_session(), unit_id)
