"""/api/v1/clients/{client_id}/scim: an app's SCIM endpoint (admin); its dead letters
(pairs the app refused until the last attempt) and their retry."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from idhub.db import db_session
from idhub.errors import NotFound
from idhub.models import ScimState, ScimSubscription
from idhub.scimout.subscriptions import ScimSettings, retry_dead_letter, subscribe, unsubscribe
from idhub.services import current_hub
from idhub.web.common import actor, scoped, writes
from idhub.web.schemas import ErrorSchema

PROVINCE_ONLY = "SCIM to the apps / đồng bộ SCIM tới các ứng dụng"
ADMIN = ["admin"]

blp = Blueprint(
    "scim_push",
    __name__,
    url_prefix="/api/v1/clients",
    description="Outbound SCIM: an app's users kept in step with the people.",
)


class ScimInSchema(Schema):
    url = fields.URL(required=True, schemes={"http", "https"}, require_tld=False)
    token = fields.String(
        load_default=None, metadata={"description": "The app's bearer token (write-only)."}
    )
    subtree = fields.String(load_default=None, allow_none=True)
    role_prefix = fields.String(load_default=None, allow_none=True)
    delete_after_days = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=0)
    )


class ScimOutSchema(Schema):
    client_id = fields.String()
    url = fields.String()
    subtree = fields.String(allow_none=True)
    role_prefix = fields.String(allow_none=True)
    delete_after_days = fields.Integer(allow_none=True)


class ScimDeadLetterSchema(Schema):
    client_id = fields.String()
    person_id = fields.UUID()
    remote_id = fields.String(allow_none=True)
    error = fields.String(allow_none=True, attribute="last_error")
    updated_at = fields.DateTime()


def _out(row: ScimSubscription) -> dict[str, object]:
    return {
        "client_id": row.client_id,
        "url": row.url,
        "subtree": row.subtree,
        "role_prefix": row.role_prefix,
        "delete_after_days": row.delete_after_days,
    }


@blp.route("/<string:client_id>/scim")
class ClientScim(MethodView):
    @scoped(blp, ADMIN, province=PROVINCE_ONLY)
    @blp.response(200, ScimOutSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="The app has no SCIM endpoint.")
    def get(self, client_id: str):
        """The app's SCIM endpoint and audience (never the token)."""
        row = db_session().get(ScimSubscription, client_id)
        if row is None:
            raise NotFound(f"Client {client_id} has no SCIM endpoint.", code="no_scim_subscription")
        return _out(row)

    @scoped(blp, ADMIN, province=PROVINCE_ONLY)
    @writes
    @blp.arguments(ScimInSchema)
    @blp.response(200, ScimOutSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such client or unit.")
    def put(self, data, client_id: str):
        """Keep the app's users in step over SCIM; every present user is sent."""
        hub = current_hub()
        settings = ScimSettings(
            data["url"],
            data["token"],
            data["subtree"],
            data["role_prefix"],
            data["delete_after_days"],
        )
        return _out(subscribe(db_session(), hub.keyring, hub.audit, actor(), client_id, settings))

    @scoped(blp, ADMIN, province=PROVINCE_ONLY)
    @writes
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="The app has no SCIM endpoint.")
    def delete(self, client_id: str):
        """No more SCIM to the app (its users stay there as they are)."""
        unsubscribe(db_session(), current_hub().audit, actor(), client_id)


@blp.route("/<string:client_id>/scim/dead-letters")
class ScimDeadLetters(MethodView):
    @scoped(blp, ADMIN, province=PROVINCE_ONLY)
    @blp.response(200, ScimDeadLetterSchema(many=True))
    @blp.alt_response(404, schema=ErrorSchema, description="The app has no SCIM endpoint.")
    def get(self, client_id: str):
        """People the app refused until the last attempt (held until retried)."""
        if db_session().get(ScimSubscription, client_id) is None:
            raise NotFound(f"Client {client_id} has no SCIM endpoint.", code="no_scim_subscription")
        query = (
            select(ScimState)
            .where(ScimState.client_id == client_id, ScimState.dead.is_(True))
            .order_by(ScimState.updated_at)
        )
        return list(db_session().scalars(query))


@blp.route("/<string:client_id>/scim/dead-letters/<uuid:person_id>/retry")
class ScimDeadLetterRetry(MethodView):
    @scoped(blp, ADMIN, province=PROVINCE_ONLY)
    @writes
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="No such dead letter.")
    def post(self, client_id: str, person_id: uuid.UUID):
        """Send that person to the app again (computed afresh)."""
        retry_dead_letter(db_session(), current_hub().audit, actor(), client_id, person_id)
