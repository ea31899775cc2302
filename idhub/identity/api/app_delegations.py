"""/api/v1/app-delegations: ủy quyền quyền ứng dụng, for HR officers and admins within
their scope (the person themselves uses /account/app-rights)."""

from __future__ import annotations

import datetime as dt
import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import or_, select

from idhub.admin_scope import visible
from idhub.db import db_session
from idhub.identity import app_delegations
from idhub.models import AppDelegation
from idhub.services import current_hub
from idhub.web.common import create_one, hr_context, list_many, paginate, with_etag
from idhub.web.schemas import Text
from provisioning.app_roles import known_apps

blp = Blueprint(
    "app-delegations",
    __name__,
    url_prefix="/api/v1/app-delegations",
    description="Delegations of app rights (ủy quyền quyền ứng dụng).",
)


class AppDelegationSchema(Schema):
    id = fields.UUID(dump_only=True)
    delegator_id = fields.UUID(required=True, metadata={"description": "Whose roles."})
    deputy_id = fields.UUID(dump_only=True)
    deputy = fields.String(
        required=True, load_only=True, metadata={"description": "The deputy's username or id."}
    )
    app = fields.String(required=True, metadata={"description": "The app key, e.g. meeting."})
    roles = fields.List(
        fields.String(), load_default=list, metadata={"description": "Empty: every role."}
    )
    unit_code = fields.String(allow_none=True, metadata={"description": "None: every unit."})
    start_date = fields.Date(required=True)
    end_date = fields.Date(required=True, metadata={"description": "Last day (inclusive)."})
    reason = Text(required=True, max_length=1000)
    started_at = fields.DateTime(dump_only=True, allow_none=True)
    ended_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    version = fields.Integer(dump_only=True)


class AppDelegationQuerySchema(Schema):
    person_id = fields.UUID(metadata={"description": "Given or received by this person."})


@blp.route("")
class AppDelegations(MethodView):
    @list_many(blp, AppDelegationQuerySchema, AppDelegationSchema(many=True))
    def get(self, filters, pagination_parameters):
        """Delegations running or to come (not revoked) of people in one's scope; with
        person_id, those the person gave or received."""
        ctx = hr_context()
        query = select(AppDelegation).where(
            AppDelegation.revoked_at.is_(None), AppDelegation.end_date >= dt.date.today()
        )
        if "person_id" in filters:
            who = filters["person_id"]
            query = query.where(
                or_(AppDelegation.delegator_id == who, AppDelegation.deputy_id == who)
            )
        query = visible.people(query, ctx.session, ctx.scope, AppDelegation.delegator_id)
        return paginate(query.order_by(AppDelegation.start_date, AppDelegation.id),
                        pagination_parameters)  # fmt: skip

    @create_one(blp, AppDelegationSchema, AppDelegationSchema, "Conflict.")
    def post(self, data):
        """Give a person's roles in one app to a deputy for a period: they switch on and
        off by themselves; audited as app_delegation.create (.start, .end, .revoke)."""
        row = app_delegations.create(
            hr_context(), data["delegator_id"], data, known_apps=known_apps(current_hub().rules)
        )
        return with_etag(row, 201)


@blp.route("/<uuid:delegation_id>/revoke")
class AppDelegationRevoke(MethodView):
    @create_one(blp, Schema, AppDelegationSchema, "Already revoked.", status=200)
    def post(self, data, delegation_id: uuid.UUID):
        """Revoke at once (the deputy's apps are told)."""
        app_delegations.revoke(hr_context(), delegation_id, person_id=None)
        row = db_session().get(AppDelegation, delegation_id)
        return with_etag(row)
