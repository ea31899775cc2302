"""Wire the OpenID provider into the app: the sign-on grants on the AuthorizationServer
`server.init_oauth` made, discovery and JWKS, userinfo, introspection, revocation, the
sign-in pages and their languages."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector
from flask import Blueprint, Flask

from idhub.oidc.authorization_code import (
    AuthorizationCodeGrant,
    IdhubOpenIDCode,
    S256CodeChallenge,
)
from idhub.oidc.discovery import add_discovery_routes, discovery
from idhub.oidc.i18n import init_i18n
from idhub.oidc.introspection import Introspection
from idhub.oidc.pages import bp as pages_bp
from idhub.oidc.refresh_token import RotatingRefreshTokenGrant
from idhub.oidc.revocation import Revocation
from idhub.oidc.userinfo import PersonBearerValidator, UserInfoView


def init_sso(app: Flask, settings: dict[str, Any]) -> None:
    issuer = (settings["sso"]["issuer"] or settings["server"]["public_url"]).rstrip("/")
    app.extensions["idhub.issuer"] = issuer
    secure = settings["sso"]["cookie_secure"]
    secure_cookies = issuer.startswith("https://") if secure == "auto" else bool(secure)
    app.extensions["idhub.sso_secure_cookies"] = secure_cookies
    app.config.update(
        SESSION_COOKIE_NAME="idhub_flow",
        SESSION_COOKIE_SECURE=secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    server = app.extensions["idhub.oauth_server"]
    server.register_grant(
        AuthorizationCodeGrant,
        [S256CodeChallenge(required=True), IdhubOpenIDCode(require_nonce=False)],
    )
    server.register_grant(RotatingRefreshTokenGrant)
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)
    protector = ResourceProtector()
    protector.register_token_validator(PersonBearerValidator(realm="idhub"))
    server.register_endpoint(UserInfoView(resource_protector=protector))

    bp = Blueprint("oidc", __name__)
    add_discovery_routes(bp, discovery(settings, issuer))

    @bp.route("/oauth/userinfo", methods=["GET", "POST"])
    def userinfo():  # type: ignore[no-untyped-def]
        return server.create_endpoint_response("userinfo")

    @bp.post("/oauth/introspect")
    def introspect():  # type: ignore[no-untyped-def]
        return server.create_endpoint_response("introspection")

    @bp.post("/oauth/revoke")
    def revoke():  # type: ignore[no-untyped-def]
        return server.create_endpoint_response("revocation")

    app.register_blueprint(bp)
    init_i18n(app)
    app.register_blueprint(pages_bp)
