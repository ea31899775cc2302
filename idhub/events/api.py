"""/api/v1/events: the dead-letter list of change events and its retry; an app's
subscription (admin)."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from idhub.db import db_session
from idhub.events.projection import EVENT_TYPES
from idhub.events.subscriptions import retry_dead_letter, subscribe, unsubscribe
from idhub.models import EventDeadLetter, EventSubscription
from idhub.services import current_hub
from idhub.web.common import actor, list_many, paginate, scoped, where_equal, writes
from idhub.web.schemas import ErrorSchema

# Province-wide by nature (every person, every app): never for a subtree-limited actor.
PROVINCE_ONLY = "change events of the apps / sự kiện thay đổi gửi các ứng dụng"

blp = Blueprint(
    "events",
    __name__,
    url_prefix="/api/v1/events",
    description="Signed change events to the apps: subscriptions and dead letters.",
)
ADMIN = ["admin"]


class DeadLetterSchema(Schema):
    id = fields.Integer()
    event_id = fields.String()
    client_id = fields.String()
    person_id = fields.UUID()
    type = fields.String()
    seq = fields.Integer()
    payload = fields.Dict()
    error = fields.String(allow_none=True)
    attempts = fields.Integer()
    created_at = fields.DateTime()


class DeadLetterQuerySchema(Schema):
    client_id = fields.String()
    person_id = fields.UUID()


class RetriedSchema(Schema):
    retried = fields.Integer(metadata={"description": "Dead letters of the pair sent again."})


class SubscriptionInSchema(Schema):
    url = fields.URL(required=True, schemes={"http", "https"}, require_tld=False)
    types = fields.List(
        fields.String(validate=validate.OneOf(EVENT_TYPES)), load_default=list(EVENT_TYPES)
    )
    new_secret = fields.Boolean(load_default=False)


class SubscriptionSchema(Schema):
    client_id = fields.String()
    url = fields.String()
    types = fields.List(fields.String())
    secret = fields.String(
        allow_none=True,
        metadata={"description": "The whsec_ secret: only when new (shown once), else null."},
    )


@blp.route("/dead-letters")
class DeadLetters(MethodView):
    @list_many(
        blp,
        DeadLetterQuerySchema,
        DeadLetterSchema(many=True),
        scopes=ADMIN,
        province=PROVINCE_ONLY,
    )
    def get(self, filters, pagination_parameters):
        """Events an app refused until the last attempt (its pair is held until retried)."""
        query = select(EventDeadLetter).order_by(EventDeadLetter.id)
        query = where_equal(query, EventDeadLetter, filters, ("client_id", "person_id"))
        return paginate(query, pagination_parameters)


@blp.route("/dead-letters/<int:letter_id>/retry")
class DeadLetterRetry(MethodView):
    @scoped(blp, ADMIN, province=PROVINCE_ONLY)
    @writes
    @blp.response(200, RetriedSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such dead letter.")
    def post(self, letter_id: int):
        """Send the person's events to that app again (the net events, computed afresh)."""
        hub = current_hub()
        return {"retried": retry_dead_letter(db_session(), hub.audit, actor(), letter_id)}


@blp.route("/subscriptions/<string:client_id>")
class Subscription(MethodView):
    @scoped(blp, ADMIN, province=PROVINCE_ONLY)
    @writes
    @blp.arguments(SubscriptionInSchema)
    @blp.response(200, SubscriptionSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such client.")
    def put(self, data, client_id: str):
        """Send an app (a registered client) change events; a new secret is shown once."""
        hub = current_hub()
        secret = subscribe(
            db_session(),
            hub.keyring,
            hub.audit,
            actor(),
            client_id,
            data["url"],
            data["types"],
            new_key=data["new_secret"],
        )
        row = db_session().get(EventSubscription, client_id)
        assert row is not None
        return {"client_id": client_id, "url": row.url, "types": row.types, "secret": secret}

    @scoped(blp, ADMIN, province=PROVINCE_ONLY)
    @writes
    @blp.response(204)
    @blp.alt_response(404, schema=ErrorSchema, description="The app takes no events.")
    def delete(self, client_id: str):
        """No more change events to the app."""
        unsubscribe(db_session(), current_hub().audit, actor(), client_id)
