"""Wire the OpenID provider into the app: the sign-on grants on the AuthorizationServer
`server.init_oauth` made, discovery and JWKS, userinfo, introspection, revocation, the
sign-in pages and their languages."""

from __future__ import annotations

from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Blueprint, Flask, Response

from idhub.oidc.authorization_code import (
    AuthorizationCodeGrant,
    IdhubOpenIDCode,
    S256CodeChallenge,
)
from idhub.oidc.claims import app_roles_of
from idhub.oidc.discovery import add_discovery_routes, discovery
from idhub.oidc.i18n import init_i18n
from idhub.oidc.introspection import Introspection
from idhub.oidc.pages import bp as pages_bp
from idhub.oidc.refresh_token import RotatingRefreshTokenGrant
from idhub.oidc.revocation import Revocation
from idhub.oidc.settings import SsoSettings
from idhub.oidc.state import oidc_state
from idhub.oidc.storage import close_read_session
from idhub.oidc.userinfo import PersonBearerValidator, UserInfoProtector, UserInfoView
from idhub.services import Hub
from idhub.web.bearer import register_person_roles


class Issuer(IssuerParameter):
    """Authlib's RFC 9207 extension: `iss` on the authorization response (errors too), so
    an app talking to several providers can tell which one answered (mix-up attacks)."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


def init_sso(app: Flask, hub: Hub) -> None:
    """After `init_oauth(app, hub)`, whose server and state this completes."""
    state = oidc_state(app)
    app.config.update(
        SESSION_COOKIE_NAME="idhub_flow",
        SESSION_COOKIE_SECURE=state.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    server = state.server
    server.register_grant(
        AuthorizationCodeGrant,
        [S256CodeChallenge(required=True), IdhubOpenIDCode(require_nonce=False)],
    )
    server.register_grant(RotatingRefreshTokenGrant)
    server.register_extension(Issuer(state.issuer))  # RFC 9207: iss in every redirect back
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)
    protector = UserInfoProtector()
    protector.register_token_validator(PersonBearerValidator(realm="idhub"))
    server.register_endpoint(UserInfoView(resource_protector=protector))

    bp = Blueprint("oidc", __name__)
    add_discovery_routes(bp, discovery(hub.settings.section(SsoSettings), state.issuer))

    @bp.route("/oauth/userinfo", methods=["GET", "POST"])
    def userinfo() -> Response:
        return server.create_endpoint_response("userinfo")

    @bp.post("/oauth/introspect")
    def introspect() -> Response:
        return server.create_endpoint_response("introspection")

    @bp.post("/oauth/revoke")
    def revoke() -> Response:
        return server.create_endpoint_response("revocation")

    app.register_blueprint(bp)
    app.teardown_appcontext(close_read_session)
    register_person_roles(app, app_roles_of)  # people's tokens at the HR API
    init_i18n(app, hub.settings.section(SsoSettings).default_locale)
    app.register_blueprint(pages_bp)
