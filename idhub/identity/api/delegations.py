"""/api/v1/people/{id}/mail-delegations: ủy quyền hộp thư (a deputy reads the mailbox)."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from idhub.db import db_session
from idhub.identity import delegations
from idhub.web.common import (
    WRITE_SCOPES,
    create_one,
    hr_context,
    read_one,
    scoped,
    with_etag,
    writes,
)
from idhub.web.schemas import ErrorSchema, Text

blp = Blueprint(
    "mail-delegations",
    __name__,
    url_prefix="/api/v1/people",
    description="Mailbox delegations (ủy quyền hộp thư).",
)


class DelegationSchema(Schema):
    id = fields.UUID(dump_only=True)
    owner_id = fields.UUID(dump_only=True)
    deputy_id = fields.UUID(required=True, metadata={"description": "Who may read the mailbox."})
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True, metadata={"description": "Last day (inclusive)."})
    reason = Text(allow_none=True, max_length=1000)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


@blp.route("/<uuid:person_id>/mail-delegations")
class Delegations(MethodView):
    @read_one(blp, DelegationSchema(many=True), "person")
    def get(self, person_id: uuid.UUID):
        """The person's mailbox delegations, past, running and future."""
        return delegations.list_delegations(db_session(), person_id)

    @create_one(blp, DelegationSchema, DelegationSchema, "Conflict.")
    def post(self, data, person_id: uuid.UUID):
        """Let a deputy into this person's mailbox from start_date to end_date: access
        appears on the start date and goes after the end date by itself."""
        delegation = delegations.create_delegation(hr_context(), person_id, data)
        return with_etag(delegation, 201)


class DelegationEndSchema(Schema):
    end_date = fields.Date(required=True, metadata={"description": "New last day (inclusive)."})


@blp.route("/<uuid:person_id>/mail-delegations/<uuid:delegation_id>/end")
class DelegationEnd(MethodView):
    @scoped(blp, WRITE_SCOPES)
    @writes
    @blp.arguments(DelegationEndSchema)
    @blp.response(200, DelegationSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such person or delegation.")
    @blp.alt_response(422, schema=ErrorSchema, description="Would extend or is before the start.")
    def post(self, data, person_id: uuid.UUID, delegation_id: uuid.UUID):
        """End a delegation early: the deputy's access goes the day after end_date (at
        once when that day has come)."""
        delegation = delegations.end_delegation(
            hr_context(), person_id, delegation_id, data["end_date"]
        )
        return with_etag(delegation)
