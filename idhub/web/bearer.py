"""Bearer-token protection of the API (RFC 6750), with errors in the API's own JSON shape."""

from __future__ import annotations

from typing import Any, NoReturn

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token
from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import g, jsonify
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from idhub.db import get_db
from idhub.models import OAuthToken, utcnow
from idhub.services import current_hub

_MESSAGES = {
    "missing_authorization": "This endpoint needs an OAuth 2 bearer token (Authorization: Bearer).",
    "invalid_token": "The access token is unknown, expired or revoked.",
    "insufficient_scope": "The access token does not carry the scope this endpoint needs.",
    "unsupported_token_type": "Only Bearer tokens are accepted.",
}


class Token(TokenMixin):
    def __init__(self, row: OAuthToken) -> None:
        self.row = row
        self.client_id = row.client_id

    def check_client(self, client: Any) -> bool:
        return client.get_client_id() == self.row.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


class HashedBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        digest = current_hub().keyring.token_hash(token_string)
        # Its own short read: the request's (write) transaction starts only if the view needs it.
        with get_db().session(write=False) as session:
            row = session.scalar(select(OAuthToken).where(OAuthToken.access_token_hash == digest))
        return Token(row) if row else None


class ApiResourceProtector(ResourceProtector):
    def raise_error_response(self, error: Any) -> NoReturn:
        status = error.status_code
        body = {
            "code": error.error,
            "status": status,
            "message": _MESSAGES.get(error.error, error.description or error.error),
            "request_id": g.get("request_id"),
        }
        response = jsonify(body)
        response.status_code = status
        # RFC 6750 3: no error code when the request carried no credentials at all.
        challenge = 'Bearer realm="idhub"'
        if error.error in ("invalid_token", "insufficient_scope"):
            challenge += f', error="{error.error}"'
        response.headers["WWW-Authenticate"] = challenge
        raise HTTPException(response=response)


require_oauth = ApiResourceProtector()
require_oauth.register_token_validator(HashedBearerTokenValidator(realm="idhub"))


def current_client_id() -> str | None:
    token = current_token._get_current_object() if current_token else None
    return token.client_id if token is not None else None
