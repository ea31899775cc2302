"""Authlib's AuthorizationServer wired to our tables: /oauth/token for every grant.

`init_oauth` registers client credentials (the API's clients); `setup.init_sso` then adds
the sign-on grants (authorization code, refresh) and the OpenID endpoints to the same
server.
"""

from __future__ import annotations

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Blueprint, Flask

from idhub.oidc.client_credentials import ClientCredentialsGrant
from idhub.oidc.models import Client, query_client
from idhub.oidc.tokens import save_token

__all__ = ["Client", "init_oauth", "query_client", "save_token"]


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
