"""Token introspection (RFC 7662): Authlib's endpoint, its storage hooks filled."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from idhub.db import get_db
from idhub.models import Person
from idhub.oidc.app_claims import client_app
from idhub.oidc.claims import person_claims
from idhub.oidc.models import CONFIDENTIAL_METHODS, Client, PersonToken, find_token
from idhub.oidc.storage import issuer


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> PersonToken | None:
        return find_token(token_string, token_type_hint)

    def check_permission(self, token: PersonToken, client: Client, request: OAuth2Request) -> bool:
        # The client the token was issued to, or a resource server trusted with "introspect".
        return token.row.client_id == client.get_client_id() or "introspect" in set(
            client.row.scope.split()
        )

    def introspect_token(self, token: PersonToken) -> dict:
        row = token.row
        expires = row.refresh_expires_at if token.kind == "refresh_token" else row.expires_at
        payload: dict[str, Any] = {
            "active": True,
            "client_id": row.client_id,
            "scope": row.scope,
            "token_type": "refresh_token" if token.kind == "refresh_token" else "Bearer",
            "iat": int(row.issued_at.timestamp()),
            "exp": int(expires.timestamp()) if expires else None,
            "iss": issuer(),
        }
        if row.person_id is not None:
            payload["sub"] = str(row.person_id)
            session = get_db().session(write=False)
            try:
                person = session.get(Person, row.person_id)
                if person is not None and person.username:
                    payload["username"] = person.username
                    if "roles" in row.scope.split():  # the token's own app's roles
                        client = client_app(session, row.client_id)
                        claims = person_claims(session, person, {"roles"}, client=client)
                        payload.update({k: v for k, v in claims.items() if k != "sub"})
            finally:
                session.close()
        return payload
