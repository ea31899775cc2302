"""/api/v1/org-units: the org tree (units, children, subtree, ancestors)."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import Select, select

from idhub.admin_scope import visible
from idhub.db import db_session
from idhub.identity import units
from idhub.identity.schemas import OrgUnitPatchSchema, OrgUnitQuerySchema, OrgUnitSchema
from idhub.models import OrgUnit
from idhub.web.common import (
    Docs,
    Resource,
    contains,
    current_scope,
    paginate,
    read_one,
    where_equal,
)

blp = Blueprint(
    "org-units", __name__, url_prefix="/api/v1/org-units", description="Org units (the org tree)."
)
PAGE = {"page_size": 50, "max_page_size": 500}


def _listed(filters: dict) -> Select:
    query = select(OrgUnit).order_by(OrgUnit.code, OrgUnit.id)
    query = visible.units(query, db_session(), current_scope(), OrgUnit.id)
    query = where_equal(query, OrgUnit, filters, ("code", "type", "status", "parent_id"))
    if "q" in filters:
        query = query.where(contains(OrgUnit.search_name, filters["q"]))
    return query


OrgUnits, OrgUnitById = Resource(
    blp, "", "unit_id", "unit", OrgUnitSchema, OrgUnitPatchSchema, OrgUnitQuerySchema
).views(
    ("OrgUnits", "OrgUnitById"),
    Docs(
        list="List org units (filter by code, type, status, parent, name).",
        create="Create an org unit.",
        get="Get one org unit.",
        patch="Change fields of an org unit (send If-Match).",
    ),
    listed=_listed,
    create=units.create_unit,
    conflict="Code already used by an active unit.",
    fetch=units.get_unit,
    update=units.update_unit,
)


@blp.route("/<uuid:unit_id>/children")
class OrgUnitChildren(MethodView):
    @read_one(blp, OrgUnitSchema(many=True), "unit")
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
    @read_one(blp, OrgUnitSchema(many=True), "unit")
    @blp.paginate(**PAGE)
    def get(self, unit_id: uuid.UUID, pagination_parameters):
        """Every unit below a unit, nearest first."""
        units.get_unit(db_session(), unit_id)
        return paginate(units.subtree_query(unit_id), pagination_parameters)


@blp.route("/<uuid:unit_id>/ancestors")
class OrgUnitAncestors(MethodView):
    @read_one(blp, OrgUnitSchema(many=True), "unit")
    def get(self, unit_id: uuid.UUID):
        """The chain of parents, from the root down to the unit's parent."""
        units.get_unit(db_session(), unit_id)
        scope = current_scope()
        return [unit for unit in units.ancestors(db_session(), unit_id) if scope.covers(unit.id)]
