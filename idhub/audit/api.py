"""/api/v1/audit: read the audit trail and check its hash chain."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from idhub.admin_scope import visible
from idhub.audit.schemas import AuditEventSchema, AuditQuerySchema, AuditVerifySchema
from idhub.db import db_session
from idhub.models import AuditEvent
from idhub.services import current_hub
from idhub.web.common import (
    AUDIT_SCOPES,
    current_scope,
    list_many,
    paginate,
    scoped,
    where_equal,
)

blp = Blueprint("audit", __name__, url_prefix="/api/v1/audit", description="The audit trail.")


@blp.route("")
class AuditEvents(MethodView):
    @list_many(
        blp,
        AuditQuerySchema,
        AuditEventSchema(many=True),
        scopes=AUDIT_SCOPES,
        page_size=100,
        max_page_size=1000,
    )
    def get(self, filters, pagination_parameters):
        """List audit events, newest first (filter by object, actor, action, request, time)."""
        query = where_equal(
            select(AuditEvent).order_by(AuditEvent.id.desc()),
            AuditEvent,
            filters,
            ("object_type", "object_id", "actor_id", "action", "request_id"),
        )
        if "since" in filters:
            query = query.where(AuditEvent.at >= filters["since"])
        if "until" in filters:
            query = query.where(AuditEvent.at < filters["until"])
        query = visible.audit_events(query, db_session(), current_scope())
        return paginate(query, pagination_parameters)


@blp.route("/verify")
class AuditVerify(MethodView):
    @scoped(blp, AUDIT_SCOPES)
    @blp.response(200, AuditVerifySchema)
    def get(self):
        """Walk the whole hash chain and report the first broken link, if any."""
        current_scope().require_everywhere("verify the whole audit chain")
        return current_hub().audit.verify_session(db_session())
