"""Authlib's AuthorizationServer wired to our tables: /oauth/token for every grant.

Client credentials live here; the sign-on grants (authorization code, refresh) and the
OIDC endpoints are registered by `idhub.sso` on the same server.
"""

from __future__ import annotations

import datetime as dt
import logging

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.util import scope_to_list
from flask import Blueprint, Flask, current_app
from sqlalchemy import select

from idhub.db import db_session
from idhub.keyring import Keyring
from idhub.models import OAuthClient, OAuthToken, utcnow

log = logging.getLogger(__name__)

# Client secrets may come in the Authorization header or the form body (RFC 6749 2.3.1).
_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


class Client(ClientMixin):
    """Authlib's view of a registered client (API clients and sign-on apps alike)."""

    def __init__(self, row: OAuthClient, keyring: Keyring) -> None:
        self.row = row
        self._keyring = keyring
        self.client_metadata: dict = {}  # read by Authlib's userinfo endpoint

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def is_public(self) -> bool:
        return self.row.client_type == "public"

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous registration may be used without naming it.
        uris = self.row.redirect_uris or []
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.row.scope.split())
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match (RFC 9700 2.1): no prefixes, no wildcards, no normalisation.
        return redirect_uri in (self.row.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.row.client_secret_hash
        return bool(stored) and self._keyring.token_matches(client_secret, stored)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in _AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in (self.row.grant_types or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.row.grant_types or [])


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(_AUTH_METHODS)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # Asking for a scope the client was never granted is an error (RFC 6749 5.2),
        # not a silently narrower (possibly empty) token.
        requested = set(scope_to_list(self.request.payload.scope) or [])
        if requested - set(self.request.client.row.scope.split()):
            raise InvalidScopeError()


def _keyring() -> Keyring:
    return current_app.extensions["idhub.keyring"]


def query_client(client_id: str) -> Client | None:
    row = db_session().scalar(
        select(OAuthClient).where(
            OAuthClient.client_id == client_id, OAuthClient.disabled_at.is_(None)
        )
    )
    return Client(row, _keyring()) if row else None


def save_token(token: dict, request) -> None:  # type: ignore[no-untyped-def]
    if getattr(request, "user", None) is not None:  # a person's token: the sign-on grants
        from idhub.oidc.grants import save_person_token

        save_person_token(token, request)
        return
    session = db_session()
    now = utcnow()
    session.add(
        OAuthToken(
            client_id=request.client.get_client_id(),
            access_token_hash=_keyring().token_hash(token["access_token"]),
            token_type=token.get("token_type", "Bearer"),
            scope=token.get("scope", ""),
            issued_at=now,
            expires_at=now + dt.timedelta(seconds=int(token["expires_in"])),
        )
    )
    session.commit()
    log.info(
        "token issued",
        extra={"client_id": request.client.get_client_id(), "scope": token.get("scope", "")},
    )


def init_oauth(app: Flask, settings: dict) -> AuthorizationServer:
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "client_credentials": int(settings["oauth"]["access_token_ttl_s"]),
        "authorization_code": int(settings["sso"]["access_token_ttl_s"]),
        "refresh_token": int(settings["sso"]["access_token_ttl_s"]),
    }
    app.config["OAUTH2_SCOPES_SUPPORTED"] = list(settings["oauth"]["scopes"]) + [
        s for s in settings["sso"]["scopes"] if s not in settings["oauth"]["scopes"]
    ]
    # Refresh tokens only where a grant asks for them (the sign-on grants, never client creds).
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(ClientCredentialsGrant)
    app.extensions["idhub.oauth_server"] = server

    bp = Blueprint("oauth", __name__, url_prefix="/oauth")

    @bp.post("/token")
    def issue_token():  # type: ignore[no-untyped-def]
        """RFC 6749 token endpoint; errors in the RFC's own format."""
        response = server.create_token_response()
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    app.register_blueprint(bp)
    return server
