"""Wire the OpenID provider into the app: grants on the existing AuthorizationServer,
discovery, JWKS, userinfo, introspection, revocation; the pages' blueprint."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import select

from idhub.db import get_db
from idhub.models import OAuthToken
from idhub.oidc import keys
from idhub.oidc.claims import SUPPORTED_CLAIMS
from idhub.oidc.grants import (
    ALL_METHODS,
    AuthorizationCodeGrant,
    IdhubOpenIDCode,
    Introspection,
    PersonToken,
    Revocation,
    RotatingRefreshTokenGrant,
    S256CodeChallenge,
    UserInfoView,
)


class PersonBearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> PersonToken | None:
        digest = current_app.extensions["idhub.keyring"].token_hash(token_string)
        session = get_db().session(write=False)
        try:
            row = session.scalar(select(OAuthToken).where(OAuthToken.access_token_hash == digest))
            if row is not None:
                session.expunge(row)
        finally:
            session.close()
        return PersonToken(row) if row is not None and row.person_id else None


def discovery(settings: dict[str, Any], issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "scopes_supported": list(settings["sso"]["scopes"]),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALG],
        "token_endpoint_auth_methods_supported": ALL_METHODS,
        "introspection_endpoint_auth_methods_supported": ALL_METHODS[:2],
        "revocation_endpoint_auth_methods_supported": ALL_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": SUPPORTED_CLAIMS
        + ["iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "amr"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "ui_locales_supported": ["vi", "en"],
    }


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
    document = discovery(settings, issuer)

    @bp.get("/.well-known/openid-configuration")
    def openid_configuration():  # type: ignore[no-untyped-def]
        response = jsonify(document)
        response.headers["Cache-Control"] = "public, max-age=300"
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    @bp.get("/oauth/jwks")
    def jwks():  # type: ignore[no-untyped-def]
        # Makes the first key on a fresh install (its own transaction), then reads.
        keys.signing_key(get_db(), app.extensions["idhub.keyring"], app.extensions["idhub.audit"])
        session = get_db().session(write=False)
        try:
            body = keys.jwks(session)
        finally:
            session.close()
        response = jsonify(body)
        response.headers["Cache-Control"] = "public, max-age=60"
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

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
    from idhub.oidc.i18n import init_i18n
    from idhub.oidc.pages import bp as pages_bp

    init_i18n(app)

    app.register_blueprint(pages_bp)
