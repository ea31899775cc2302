"""Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the signing keys' JWKS:
the two public documents a relying party reads before anything else."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from idhub.db import get_db
from idhub.oidc import keys
from idhub.oidc.claims import SUPPORTED_CLAIMS
from idhub.oidc.models import ALL_METHODS
from idhub.oidc.settings import SsoSettings
from idhub.services import current_hub


def discovery(sso: SsoSettings, issuer: str) -> dict[str, Any]:
    """The provider's metadata document."""
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "scopes_supported": list(sso.scopes),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALG],
        "token_endpoint_auth_methods_supported": ALL_METHODS,
        "introspection_endpoint_auth_methods_supported": ALL_METHODS[:2],
        "revocation_endpoint_auth_methods_supported": ALL_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "claims_supported": SUPPORTED_CLAIMS
        + ["iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "amr"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "ui_locales_supported": ["vi", "en"],
    }


def add_discovery_routes(bp: Blueprint, document: dict[str, Any]) -> None:
    """/.well-known/openid-configuration and /oauth/jwks on `bp`; both public, cacheable."""

    @bp.get("/.well-known/openid-configuration")
    def openid_configuration() -> Response:
        response = jsonify(document)
        response.headers["Cache-Control"] = "public, max-age=300"
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    @bp.get("/oauth/jwks")
    def jwks() -> Response:
        hub = current_hub()
        # Makes the first key on a fresh install (its own transaction), then reads.
        keys.signing_key(get_db(), hub.keyring, hub.audit)
        session = get_db().session(write=False)
        try:
            body = keys.jwks(session)
        finally:
            session.close()
        response = jsonify(body)
        response.headers["Cache-Control"] = "public, max-age=60"
        response.headers["Access-Control-Allow-Origin"] = "*"
        return response
