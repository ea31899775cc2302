"""The national exchange API: exports (create, list, fetch the signed document), the keys
that verify them (JWKS, public at /national/jwks.json), signed imports and the partners
that may send them.

Listing, making and fetching exports and sending batches need the `national:exchange`
scope, which `admin` does not imply: the documents carry every CCCD. Registering a
partner's key is an administrator's act (`admin`).
"""

from __future__ import annotations

import uuid

from flask import Blueprint as FlaskBlueprint
from flask import Response, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from idhub.db import db_session
from idhub.errors import Invalid
from idhub.models import NationalExport
from idhub.national import exports, imports, keys
from idhub.national.settings import NationalSettings
from idhub.services import current_hub
from idhub.web.common import actor, hr_context, list_many, paginate, scoped, writes
from idhub.web.schemas import ErrorSchema
from idhub.web.settings import ServerSettings

EXCHANGE_SCOPES = ["national:exchange"]
PARTNER_SCOPES = ["admin"]

# Province-wide by nature (every person, every app): never for a subtree-limited actor.
PROVINCE_ONLY = "national exchange / trao đổi với cơ sở dữ liệu quốc gia"

blp = Blueprint(
    "national",
    __name__,
    url_prefix="/api/v1/national",
    description="Signed exchange with the national database of cadres and civil servants.",
)


class ExportRequestSchema(Schema):
    format = fields.String(load_default="jws", validate=validate.OneOf(exports.FORMATS))
    since = fields.AwareDateTime(
        load_default=None,
        default_timezone=None,
        metadata={"description": "Only people changed since (incremental); omit for full."},
    )


class ExportSchema(Schema):
    id = fields.UUID()
    format = fields.String()
    since = fields.DateTime(allow_none=True)
    records = fields.Integer()
    kid = fields.String()
    sha256 = fields.String()
    created_by = fields.String()
    created_at = fields.DateTime()
    media_type = fields.Function(lambda row: exports.MEDIA_TYPES[row.format])
    pushed_at = fields.DateTime(
        allow_none=True, metadata={"description": "Delivered to the platform."}
    )
    push_error = fields.String(
        allow_none=True, metadata={"description": "The platform's last refusal."}
    )


class ExportQuerySchema(Schema):
    format = fields.String(validate=validate.OneOf(exports.FORMATS))


class ImportSchema(Schema):
    id = fields.UUID()
    batch_id = fields.String()
    records = fields.Integer()
    issued_at = fields.DateTime()
    received_at = fields.DateTime()
    sha256 = fields.String()


class PartnerRequestSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    kind = fields.String(required=True, validate=validate.OneOf(imports.KINDS))
    public_jwk = fields.Dict(required=True)


class PartnerSchema(Schema):
    id = fields.UUID()
    name = fields.String()
    kind = fields.String()
    public_jwk = fields.Dict()
    active = fields.Boolean()


# Public, like the sign-on's /oauth/jwks: outside the token-protected API document.
keys_bp = FlaskBlueprint("national_keys", __name__)


@keys_bp.get("/national/jwks.json")
def jwks() -> Response:
    """The keys that verify every export (retired keys included)."""
    response = jsonify(keys.jwks(db_session()))
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blp.route("/exports")
class Exports(MethodView):
    @list_many(
        blp,
        ExportQuerySchema,
        ExportSchema(many=True),
        scopes=EXCHANGE_SCOPES,
        province=PROVINCE_ONLY,
    )
    def get(self, filters, pagination_parameters):
        """List exports, newest first."""
        query = exports.listed()
        if "format" in filters:
            query = query.where(NationalExport.format == filters["format"])
        return paginate(query, pagination_parameters)

    @scoped(blp, EXCHANGE_SCOPES, province=PROVINCE_ONLY)
    @writes
    @blp.arguments(ExportRequestSchema)
    @blp.response(201, ExportSchema)
    def post(self, body):
        """Make a signed export: everyone, or only those changed `since` (audited)."""
        hub = current_hub()
        return exports.create_export(
            db_session(),
            hub.keyring,
            hub.audit,
            actor(),
            fmt=body["format"],
            since=body["since"],
            issuer=hub.settings.section(ServerSettings).public_url,
            push=hub.settings.section(NationalSettings).pushing,
        )


@blp.route("/exports/<uuid:export_id>")
class ExportById(MethodView):
    @scoped(blp, EXCHANGE_SCOPES, province=PROVINCE_ONLY)
    @writes
    @blp.response(200, description="The signed document (application/jose or XML).")
    @blp.alt_response(404, schema=ErrorSchema, description="No such export.")
    def get(self, export_id: uuid.UUID):
        """The signed document, byte for byte as signed (each fetch is audited)."""
        session = db_session()
        row = exports.get_export(session, export_id)
        exports.fetched(session, current_hub().audit, actor(), row)
        return Response(
            row.document,
            mimetype=exports.MEDIA_TYPES[row.format],
            headers={"Digest": f"sha-256={row.sha256}", "Cache-Control": "no-store"},
        )


@blp.route("/imports")
class Imports(MethodView):
    @scoped(blp, EXCHANGE_SCOPES, province=PROVINCE_ONLY)
    @writes
    @blp.response(201, ImportSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="Replayed batch.")
    @blp.alt_response(422, schema=ErrorSchema, description="Unsigned, altered, wrong key.")
    def post(self):
        """Receive a signed batch (body: the compact JWS, application/jose)."""
        token = request.get_data(as_text=True)
        if not token.strip():
            raise Invalid("The body must be the signed batch.", code="national_unsigned")
        return imports.receive(hr_context(reason="national import"), token)


@blp.route("/partners")
class Partners(MethodView):
    @scoped(blp, PARTNER_SCOPES, province=PROVINCE_ONLY)
    @writes
    @blp.arguments(PartnerRequestSchema)
    @blp.response(201, PartnerSchema)
    def post(self, body):
        """Register a partner (HR system or the national side) and its public key."""
        return imports.register_partner(
            hr_context(), body["name"], body["kind"], body["public_jwk"]
        )
