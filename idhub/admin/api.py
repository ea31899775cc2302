"""/api/v1/admin-grants: who administers what — grant, revoke, list, and one's own roles."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from idhub.admin import grants
from idhub.admin_scope import grants as held
from idhub.admin_scope.roles import ROLES
from idhub.admin_scope.scope import EVERYWHERE, NOWHERE, Scope
from idhub.db import db_session
from idhub.web.bearer import current_token_object
from idhub.web.common import (
    IDEMPOTENCY_DOC,
    current_scope,
    hr_context,
    list_many,
    paginate,
    read_one,
    scoped,
    writes,
)
from idhub.web.schemas import ErrorSchema, Text

blp = Blueprint(
    "admin-grants",
    __name__,
    url_prefix="/api/v1/admin-grants",
    description="Delegated administration: roles over unit subtrees.",
)
# Any administrative scope may read and grant; what it may grant is what it holds.
ANY_ADMIN = ["hr:read", "hr:write", "audit:read", "admin", "access:reset"]


class GrantSchema(Schema):
    id = fields.UUID(dump_only=True)
    person_id = fields.UUID(required=True)
    client_id = fields.String(
        dump_only=True,
        allow_none=True,
        metadata={"description": "Reserved: API clients are limited by their own subtree."},
    )
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    unit_id = fields.UUID(
        allow_none=True,
        metadata={"description": "The subtree's root; absent or null: the whole province."},
    )
    valid_from = fields.Date(metadata={"description": "First day (default today)."})
    valid_to = fields.Date(allow_none=True, metadata={"description": "Last day (inclusive)."})
    reason = Text(max_length=500, allow_none=True)
    granted_by = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)


class GrantQuerySchema(Schema):
    person_id = fields.UUID()
    client_id = fields.String(validate=validate.Length(max=64))
    role = fields.String(validate=validate.OneOf(ROLES))
    unit_id = fields.UUID()
    active_on = fields.Date(metadata={"description": "Only grants valid on that day."})


class RevokeSchema(Schema):
    reason = Text(max_length=500)


class HeldSchema(Schema):
    role = fields.String()
    unit_id = fields.UUID(allow_none=True)
    source = fields.String(metadata={"description": "hand | rule"})
    grant_id = fields.UUID(allow_none=True)
    valid_to = fields.Date(allow_none=True)


def may_grant(role: str) -> Scope:
    """The caller's reach for `role`: a person's roles (province-wide `admin` app role:
    everywhere), an API client with `admin` over its subtree, nothing else."""
    token = current_token_object()
    if token is None:
        return NOWHERE
    session = db_session()
    if token.person_id is None:
        if "admin" not in token.get_scope().split():
            return NOWHERE
        return held.client_scope(session, token.client_id)
    if "admin" in token.province_scopes():
        return EVERYWHERE
    return held.grantable(session, token.held(), role)


@blp.route("")
class Grants(MethodView):
    @list_many(blp, GrantQuerySchema, GrantSchema(many=True), scopes=ANY_ADMIN)
    def get(self, filters, pagination_parameters):
        """Grants by hand over units in your scope (filter by person, client, role, unit, day)."""
        query = grants.listed(current_scope(), filters, db_session())
        return paginate(query, pagination_parameters)

    @scoped(blp, ANY_ADMIN)
    @writes
    @blp.doc(**IDEMPOTENCY_DOC)
    @blp.arguments(GrantSchema)
    @blp.response(201, GrantSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="More than you hold.")
    @blp.alt_response(404, schema=ErrorSchema, description="No such person, client or unit.")
    def post(self, data):
        """Grant a role over a unit's subtree with validity dates (audited); nobody grants
        more than they hold."""
        grant = grants.grant_role(hr_context(reason=data.get("reason")), data, may_grant)
        return grant, 201, {"Location": f"{blp.url_prefix}/{grant.id}"}


@blp.route("/mine")
class MyRoles(MethodView):
    @scoped(blp, ANY_ADMIN)
    @blp.response(200, HeldSchema(many=True))
    def get(self):
        """The roles the caller holds today over subtrees (by hand and by rule)."""
        token = current_token_object()
        return token.held() if token is not None else []


@blp.route("/<uuid:grant_id>")
class GrantById(MethodView):
    @read_one(blp, GrantSchema, "grant")
    def get(self, grant_id: uuid.UUID):
        """One grant."""
        return grants.get_grant(db_session(), grant_id)


@blp.route("/<uuid:grant_id>/revoke")
class GrantRevoke(MethodView):
    @scoped(blp, ANY_ADMIN)
    @writes
    @blp.arguments(RevokeSchema)
    @blp.response(200, GrantSchema)
    @blp.alt_response(403, schema=ErrorSchema, description="More than you hold.")
    @blp.alt_response(404, schema=ErrorSchema, description="No such grant.")
    @blp.alt_response(409, schema=ErrorSchema, description="Already revoked.")
    def post(self, data, grant_id: uuid.UUID):
        """Revoke a grant now (audited; the row stays as history)."""
        session = db_session()
        grant = grants.revoke(
            hr_context(reason=data.get("reason")), grants.get_grant(session, grant_id), may_grant
        )
        return grant
