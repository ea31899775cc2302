"""/api/v1/clients: sign-on apps and API clients, managed by administrators and app owners.

The rules are `client_admin`'s (who manages which, nothing beyond what one holds); this
module turns the request's token into a `Manager`. A secret is in one answer only (create,
rotate): these writes are not replayed by Idempotency-Key, which would store the answer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from idhub.admin_scope.grants import person_scope, scopes_of
from idhub.admin_scope.scope import EVERYWHERE, Scope, scope_of
from idhub.db import db_session, get_db
from idhub.models import OAuthClient
from idhub.oidc import client_admin
from idhub.oidc.client_admin import Manager
from idhub.oidc.server import supported_scopes
from idhub.services import current_hub
from idhub.web.bearer import current_token_object
from idhub.web.common import IF_MATCH_DOC, actor, paginate, require_if_match, scoped
from idhub.web.schemas import ErrorSchema, Text

blp = Blueprint(
    "clients",
    __name__,
    url_prefix="/api/v1/clients",
    description="Sign-on apps (OIDC) and API clients: register, change, rotate, disable.",
)
# `apps`: an app owner's (their own clients); `admin`: every client, for a province-wide one.
CLIENT_SCOPES = ["admin", "apps"]
URI = fields.String(validate=validate.Length(min=1, max=2000))


def request_manager() -> Manager:
    """The request's token as a manager of clients."""
    token = current_token_object()
    granted = frozenset(token.get_scope().split()) if token is not None else frozenset()
    if token is None or token.person_id is None:
        root = token.subtree_unit_id if token is not None else None
        return Manager(
            actor(),
            everywhere="admin" in granted and root is None,
            owner=None,
            held=granted,
            reach=lambda _s: EVERYWHERE if root is None else _scope_of_root(root),
        )
    province = token.province_scopes() & granted
    held = frozenset((province | scopes_of(token.held())) & granted)
    roles = token.held()

    def reach(scopes: frozenset[str]) -> Scope:
        with get_db().session(write=False) as session:
            return person_scope(session, roles, set(province & scopes), scopes & held)

    return Manager(
        actor(),
        everywhere="admin" in held and reach(frozenset({"admin"})).everywhere,
        owner=token.person_id,
        held=held,
        reach=reach,
    )


def _scope_of_root(root: Any) -> Scope:
    with get_db().session(write=False) as session:
        return scope_of(session, [root])


class ClientSchema(Schema):
    client_id = fields.String(dump_only=True)
    name = fields.String()
    kind = fields.Function(lambda c: "app" if client_admin.is_sign_on(c) else "api")
    client_type = fields.String()
    scopes = fields.Function(lambda c: c.scope.split())
    grant_types = fields.List(fields.String())
    redirect_uris = fields.List(fields.String())
    post_logout_redirect_uris = fields.List(fields.String())
    backchannel_logout_uri = fields.String(allow_none=True)
    client_uri = fields.String(allow_none=True)
    first_party = fields.Boolean()
    subtree_unit_id = fields.UUID(allow_none=True)
    owner_person_id = fields.UUID(allow_none=True)
    created_at = fields.DateTime()
    disabled_at = fields.DateTime(allow_none=True)


class NewClientSchema(ClientSchema):
    client_secret = fields.String(
        metadata={"description": "Shown in this answer only (empty for a public client)."}
    )


class ClientCreateSchema(Schema):
    kind = fields.String(
        load_default="app",
        validate=validate.OneOf(["app", "api"]),
        metadata={"description": "app: an OIDC sign-on app; api: client credentials."},
    )
    name = Text(required=True, max_length=255)
    client_type = fields.String(
        load_default="confidential",
        validate=validate.OneOf(["confidential", "public"]),
        metadata={"description": "public: no secret, PKCE S256 (apps only)."},
    )
    scopes = fields.List(fields.String(validate=validate.Length(max=64)), load_default=list)
    redirect_uris = fields.List(URI, load_default=list)
    post_logout_redirect_uris = fields.List(URI, load_default=list)
    backchannel_logout_uri = URI
    client_uri = URI
    first_party = fields.Boolean(load_default=False)
    subtree_unit_id = fields.UUID(
        allow_none=True,
        metadata={"description": "API client: this unit and those below it only."},
    )
    owner_person_id = fields.UUID(
        allow_none=True, metadata={"description": "Administrators only; default: you."}
    )


class ClientPatchSchema(Schema):
    name = Text(max_length=255)
    scopes = fields.List(fields.String(validate=validate.Length(max=64)))
    redirect_uris = fields.List(URI)
    post_logout_redirect_uris = fields.List(URI)
    backchannel_logout_uri = fields.String(allow_none=True, validate=validate.Length(max=2000))
    client_uri = fields.String(allow_none=True, validate=validate.Length(max=2000))


class ClientQuerySchema(Schema):
    disabled = fields.Boolean()


class DisabledSchema(ClientSchema):
    tokens_revoked = fields.Integer()


@dataclass
class _Versioned:
    """A client's ETag: a digest of what PATCH may change (the row has no version)."""

    version: str


def _etag(row: OAuthClient) -> str:
    seen = "\n".join(
        [
            row.name,
            row.scope,
            " ".join(row.redirect_uris or []),
            " ".join(row.post_logout_redirect_uris or []),
            row.backchannel_logout_uri or "",
            row.client_uri or "",
        ]
    )
    return hashlib.sha256(seen.encode()).hexdigest()[:20]


def _allowed() -> list[str]:
    return supported_scopes(current_hub().settings)


def _get(client_id: str) -> OAuthClient:
    return client_admin.get_managed(db_session(), request_manager(), client_id)


def _with_secret(row: OAuthClient, secret: str) -> OAuthClient:
    """The row with its new secret attached for this one answer (never stored)."""
    row.client_secret = secret  # type: ignore[attr-defined]
    return row


@blp.route("")
class Clients(MethodView):
    @scoped(blp, CLIENT_SCOPES)
    @blp.arguments(ClientQuerySchema, location="query")
    @blp.response(200, ClientSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=500)
    def get(self, filters, pagination_parameters):
        """Clients you manage: every one for a province administrator, your own for an
        app owner."""
        return paginate(client_admin.listed(request_manager(), filters), pagination_parameters)

    @scoped(blp, CLIENT_SCOPES)
    @blp.arguments(ClientCreateSchema)
    @blp.response(201, NewClientSchema)
    @blp.alt_response(422, schema=ErrorSchema, description="Bad URI, scope or name.")
    def post(self, data):
        """Register a sign-on app or an API client; the secret is in this answer only.

        Redirect URIs are exact https URIs (http only on loopback). Scopes come from the
        hub's list; administrative scopes only if you hold them, and an API client made
        below the province is limited to a subtree inside your own reach.
        """
        session = db_session()
        new = client_admin.register(
            session,
            current_hub().keyring,
            current_hub().audit,
            request_manager(),
            data,
            _allowed(),
        )
        session.commit()
        row = client_admin.get_managed(session, request_manager(), new.client_id)
        return (
            _with_secret(row, new.client_secret),
            201,
            {
                "Location": f"{blp.url_prefix}/{new.client_id}",
                "Cache-Control": "no-store",
            },
        )


@blp.route("/<string:client_id>")
class ClientById(MethodView):
    @scoped(blp, CLIENT_SCOPES)
    @blp.response(200, ClientSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such client (or not yours).")
    def get(self, client_id: str):
        """One client (never its secret)."""
        row = _get(client_id)
        return row, 200, {"ETag": f'"{_etag(row)}"'}

    @scoped(blp, CLIENT_SCOPES)
    @blp.doc(**IF_MATCH_DOC)
    @blp.arguments(ClientPatchSchema)
    @blp.response(200, ClientSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such client (or not yours).")
    @blp.alt_response(412, schema=ErrorSchema, description="ETag does not match.")
    @blp.alt_response(428, schema=ErrorSchema, description="If-Match missing.")
    def patch(self, data, client_id: str):
        """Change the name, URIs or scopes (within what you hold)."""
        session = db_session()
        row = _get(client_id)
        require_if_match(_Versioned(_etag(row)))
        client_admin.update(session, current_hub().audit, request_manager(), row, data, _allowed())
        session.commit()
        return row, 200, {"ETag": f'"{_etag(row)}"'}


@blp.route("/<string:client_id>/rotate-secret")
class ClientRotate(MethodView):
    @scoped(blp, CLIENT_SCOPES)
    @blp.response(200, NewClientSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such client (or not yours).")
    @blp.alt_response(409, schema=ErrorSchema, description="A public client has no secret.")
    def post(self, client_id: str):
        """A new secret, in this answer only; the old one stops working at once."""
        session = db_session()
        hub = current_hub()
        new = client_admin.rotate_secret(
            session, hub.keyring, hub.audit, request_manager(), _get(client_id)
        )
        session.commit()
        return _with_secret(_get(client_id), new.client_secret), 200, {"Cache-Control": "no-store"}


def _set_disabled(client_id: str, disabled: bool) -> OAuthClient:
    session = db_session()
    row = _get(client_id)
    revoked = client_admin.set_disabled(
        session, current_hub().audit, request_manager(), row, disabled
    )
    session.commit()
    row = _get(client_id)
    row.tokens_revoked = revoked  # type: ignore[attr-defined]
    return row


@blp.route("/<string:client_id>/disable")
class ClientDisable(MethodView):
    @scoped(blp, CLIENT_SCOPES)
    @blp.response(200, DisabledSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such client (or not yours).")
    def post(self, client_id: str):
        """Disable: no new tokens, and every token it holds is refused at once."""
        return _set_disabled(client_id, True)


@blp.route("/<string:client_id>/enable")
class ClientEnable(MethodView):
    @scoped(blp, CLIENT_SCOPES)
    @blp.response(200, DisabledSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such client (or not yours).")
    def post(self, client_id: str):
        """Enable again (the tokens revoked when it was disabled stay revoked)."""
        return _set_disabled(client_id, False)
