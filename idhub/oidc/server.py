"""Authlib's AuthorizationServer wired to our tables: /oauth/token for every grant.

`init_oauth` registers client credentials (the API's clients); `setup.init_sso` then adds
the sign-on grants (authorization code, refresh) and the OpenID endpoints to the same
server.
"""

from __future__ import annotations

import secrets
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Blueprint, Flask, Response, g, request

from idhub.config import Settings
from idhub.metrics import token_issued
from idhub.oidc.client_credentials import ClientCredentialsGrant, plain_exchange
from idhub.oidc.models import CC_REQUEST, query_client
from idhub.oidc.sealed import PREFIX, open_sealed
from idhub.oidc.settings import OAuthSettings, SsoSettings
from idhub.oidc.state import OidcState, issuer_of, secure_cookies_of
from idhub.oidc.tokens import save_token
from idhub.services import Hub
from idhub.web.bearer import register_token_reader

__all__ = ["init_oauth", "new_token", "supported_scopes"]


def new_token(*_args: Any, **_kwargs: Any) -> str:
    """An access or refresh token: 256 random bits, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def supported_scopes(settings: Settings) -> list[str]:
    """The API's scopes, then the sign-on's that are not among them."""
    api = settings.section(OAuthSettings).scopes
    return list(api) + [s for s in settings.section(SsoSettings).scopes if s not in api]


def init_oauth(app: Flask, hub: Hub) -> AuthorizationServer:
    oauth, sso = hub.settings.section(OAuthSettings), hub.settings.section(SsoSettings)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "client_credentials": oauth.access_token_ttl_s,
        "authorization_code": sso.access_token_ttl_s,
        "refresh_token": sso.access_token_ttl_s,
    }
    app.config["OAUTH2_SCOPES_SUPPORTED"] = supported_scopes(hub.settings)
    # Refresh tokens only where a grant asks for them (the sign-on grants, never client creds).
    # 256 random bits from `secrets` in one call (Authlib's default draws 42 characters
    # one by one through random.SystemRandom: the same strength at ten times the cost).
    app.config["OAUTH2_ACCESS_TOKEN_GENERATOR"] = new_token
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = new_token
    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.register_grant(ClientCredentialsGrant)
    register_token_reader(app, PREFIX, lambda token: open_sealed(hub.keyring, token))
    issuer = issuer_of(hub.settings)
    OidcState(server, issuer, secure_cookies_of(hub.settings, issuer)).init_app(app)

    bp = Blueprint("oauth", __name__, url_prefix="/oauth")

    @bp.post("/token")
    def issue_token() -> Response:
        """RFC 6749 token endpoint; errors in the RFC's own format. A code presented here
        is spent whatever the answer (what the grant consumed is committed). Client
        credentials write nothing (their tokens are sealed): the client is read outside
        the request's write transaction (no write lock taken), and a plainly valid
        exchange is answered by `plain_exchange`, any other by Authlib's grant."""
        response = None
        grant_type = request.form.get("grant_type", "")
        if grant_type == "client_credentials":
            g.setdefault(CC_REQUEST, True)
            response = plain_exchange(server.scopes_supported)
        if response is None:
            response = server.create_token_response()
        session = g.get("_db_session")
        if session is not None:
            session.commit()
        if response.status_code == 200:
            token_issued(grant_type)  # a counter: the token endpoint does no more for metrics
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response

    app.register_blueprint(bp)
    return server
