"""OpenID Connect userinfo (Core 5.3): claims from HR for a person's bearer token; the
same claims go into the ID token."""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from flask import request as flask_request
from sqlalchemy import select

from idhub.db import get_db
from idhub.models import OAuthClient, OAuthToken
from idhub.oidc import keys
from idhub.oidc.app_claims import client_app
from idhub.oidc.claims import person_claims
from idhub.oidc.models import PersonToken, SignedIn
from idhub.oidc.storage import audit_log, issuer, keyring, read_session


def user_info(user: SignedIn, scope: str, client: OAuthClient | None) -> UserInfo:
    """The claims the scope asks for, as `client` may see them (its own app's roles),
    read fresh from HR: the person as the grant's `authenticate_user` read them in this
    request, their posts in the same read session."""
    return UserInfo(person_claims(read_session(), user.person, set(scope.split()), client=client))


class PersonBearerValidator(BearerTokenValidator):
    """Userinfo's bearer check: a stored access token issued to a person."""

    def authenticate_token(self, token_string: str) -> PersonToken | None:
        digest = keyring().token_hash(token_string)
        session = get_db().session(write=False)
        try:
            row = session.scalar(select(OAuthToken).where(OAuthToken.access_token_hash == digest))
            if row is not None:
                session.expunge(row)
        finally:
            session.close()
        return PersonToken(row) if row is not None and row.person_id else None


class UserInfoProtector(ResourceProtector):
    """The Authorization header, or (RFC 6750 §2.2, pyoidc's default) `access_token` in a
    form-encoded POST body; never the query string, which the access log writes."""

    def parse_request_authorization(self, request: Any) -> tuple[Any, str]:
        body = None
        if flask_request.method == "POST" and flask_request.mimetype == (
            "application/x-www-form-urlencoded"
        ):
            body = flask_request.form.get("access_token")
        if body is None:
            return super().parse_request_authorization(request)
        if request.headers.get("Authorization"):
            raise InvalidRequestError("Send the access token one way only (RFC 6750 section 2).")
        return self.get_token_validator("bearer"), body


class UserInfoView(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return issuer()

    def generate_user_info(self, user: SignedIn, scope: str) -> UserInfo:
        # The bearer token the resource protector accepted says which client asks.
        token = current_token._get_current_object()
        client_id = token.row.client_id if isinstance(token, PersonToken) else None
        client = client_app(read_session(), client_id) if client_id else None
        return user_info(user, scope, client)

    def resolve_private_key(self) -> Any:
        return keys.signing_key(get_db(), keyring(), audit_log())[1]
