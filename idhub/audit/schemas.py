"""The audit trail's bodies in the REST API: events, their query, the chain check."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, ValidationError, fields, validates_schema

from idhub.web.schemas import Text

_SEALED_NOTE = (
    " A sealed personal field (CCCD, date of birth, personal contact) is given as "
    '{"sealed": "<12 hex>"}: equal marks for equal values, so it shows THAT the field '
    "changed, never its value (events before this rule keep what they held)."
)


class AuditEventSchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_type = fields.String()
    actor_id = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String()
    object_id = fields.String(allow_none=True)
    before = fields.Dict(
        allow_none=True, metadata={"description": "The fields before the change." + _SEALED_NOTE}
    )
    after = fields.Dict(
        allow_none=True, metadata={"description": "The fields after the change." + _SEALED_NOTE}
    )
    reason = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    source_ip = fields.String(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()


class AuditQuerySchema(Schema):
    object_type = Text(max_length=32)
    object_id = Text(max_length=64)
    actor_id = Text(max_length=128)
    action = Text(max_length=64)
    request_id = Text(max_length=64)
    since = fields.AwareDateTime(default_timezone=dt.UTC)
    until = fields.AwareDateTime(default_timezone=dt.UTC)

    @validates_schema
    def _range(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise ValidationError("until is before since.", "until")


class AuditVerifySchema(Schema):
    ok = fields.Boolean()
    checked = fields.Integer()
    broken_at = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True)
