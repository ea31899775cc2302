"""Bearer-token protection of the API (RFC 6750), with errors in the API's own JSON shape.

Tokens issued to people (through sign-on apps) are checked against the person: an app
given an API scope would otherwise hand it to everyone who signs in. A person's token
carries an administrative scope only while the person holds it: province-wide through
a hub role, an application role from the rules (`ADMIN_SCOPE_ROLES`, e.g.
"idhub:hr-writer" for hr:write; without a source of roles — the sign-on wing registers
one — none), or over a unit subtree through an administrative grant (by hand or by a
post, idhub/admin_scope/grants.py), which then limits what it reaches.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, NoReturn

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token
from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc6750 import BearerTokenValidator
from flask import current_app, g, jsonify
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from idhub.admin_scope.grants import Held, held_by_person, scopes_of
from idhub.db import get_db
from idhub.models import OAuthClient, OAuthToken, utcnow
from idhub.services import current_hub

_MESSAGES = {
    "missing_authorization": "This endpoint needs an OAuth 2 bearer token (Authorization: Bearer).",
    "invalid_token": "The access token is unknown, expired or revoked.",
    "insufficient_scope": "The access token does not carry the scope this endpoint needs.",
    "unsupported_token_type": "Only Bearer tokens are accepted.",
}


# The API's scopes that act on other people's data, and the hub role a person needs for
# each in a token of theirs (an application role "idhub:<role>" given by the rules).
ADMIN_SCOPE_ROLES = {
    "hr:read": "idhub:hr-reader",
    "hr:write": "idhub:hr-writer",
    "audit:read": "idhub:auditor",
    "admin": "idhub:admin",
    "access:reset": "idhub:security-officer",
    "national:exchange": "idhub:national-exchange",
    "metrics": "idhub:monitoring",
    # The SCIM server's (idhub/scim): as HR's reading and writing.
    "scim:read": "idhub:hr-reader",
    "scim:write": "idhub:hr-writer",
    "scim:personal": "idhub:hr-writer",
    "apps": "idhub:app-owner",
}
PersonRoles = Callable[[uuid.UUID], set[str]]  # a person's application roles, today
_ROLES_KEY = "idhub.person_roles"
# Self-contained tokens (the sign-on wing seals client-credential tokens): a token that
# starts with the prefix is read by its reader (a row-like view, or None), never looked up.
TokenReader = Callable[[str], Any]
_READERS_KEY = "idhub.token_readers"


def register_token_reader(app: Any, prefix: str, reader: TokenReader) -> None:
    """Tokens starting with `prefix` are opened by `reader`, not found by their hash."""
    app.extensions.setdefault(_READERS_KEY, {})[prefix] = reader


def register_person_roles(app: Any, source: PersonRoles) -> None:
    """Where people's roles come from (the sign-on wing knows; this floor does not)."""
    app.extensions[_ROLES_KEY] = source


def province_scopes(person_id: uuid.UUID) -> set[str]:
    """The administrative scopes a person holds province-wide, by the rules' app roles."""
    source: PersonRoles | None = current_app.extensions.get(_ROLES_KEY)
    roles = source(person_id) if source is not None else set()
    return {s for s, role in ADMIN_SCOPE_ROLES.items() if role in roles}


def held_roles(person_id: uuid.UUID) -> list[Held]:
    """A person's administrative roles over subtrees today (by hand and by rule)."""
    with get_db().session(write=False) as session:
        return held_by_person(session, person_id, current_hub().rules)


def person_scope(scope: str, allowed: set[str]) -> str:
    """The token's scopes less the administrative ones the person does not hold now,
    province-wide (app roles) or over some subtree (grants): `allowed`."""
    return " ".join(s for s in scope.split() if s not in ADMIN_SCOPE_ROLES or s in allowed)


class Token(TokenMixin):
    def __init__(self, row: OAuthToken, subtree_unit_id: uuid.UUID | None = None) -> None:
        self.row = row
        # The client's subtree limit (delegated administration), read with the token.
        self.subtree_unit_id = subtree_unit_id
        self.client_id = row.client_id
        self.person_id: uuid.UUID | None = row.person_id
        self._api_scope: str | None = None
        self._province: set[str] | None = None
        self._held: list[Held] | None = None

    def province_scopes(self) -> set[str]:
        """A person's token: the scopes held province-wide (app roles); a client's: all."""
        if self._province is None:
            pid = self.person_id
            self._province = province_scopes(pid) if pid else set(self.row.scope.split())
        return self._province

    def held(self) -> list[Held]:
        """A person's token: their roles over subtrees today; a client's: none."""
        if self._held is None:
            self._held = held_roles(self.person_id) if self.person_id else []
        return self._held

    def check_client(self, client: Any) -> bool:
        return client.get_client_id() == self.row.client_id

    def get_scope(self) -> str:
        """What the token may do at the API: for a person's, only the roles they hold."""
        if self._api_scope is None:
            row = self.row
            if row.person_id and any(s in ADMIN_SCOPE_ROLES for s in row.scope.split()):
                allowed = self.province_scopes() | scopes_of(self.held())
                self._api_scope = person_scope(row.scope, allowed)
            else:
                self._api_scope = row.scope
        return self._api_scope

    def get_expires_in(self) -> int:
        return int((self.row.expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


class HashedBearerTokenValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        for prefix, reader in current_app.extensions.get(_READERS_KEY, {}).items():
            if token_string.startswith(prefix):
                sealed = reader(token_string)
                return Token(sealed, sealed.subtree_unit_id) if sealed is not None else None
        digest = current_hub().keyring.token_hash(token_string)
        # Its own short read: the request's (write) transaction starts only if the view needs it.
        with get_db().session(write=False) as session:
            found = session.execute(
                select(OAuthToken, OAuthClient.subtree_unit_id)
                .join(OAuthClient, OAuthClient.client_id == OAuthToken.client_id)
                .where(OAuthToken.access_token_hash == digest)
            ).first()
        return Token(found[0], found[1]) if found else None


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


def current_token_object() -> Token | None:
    token = current_token._get_current_object() if current_token else None
    return token if isinstance(token, Token) else None


def current_person_id() -> uuid.UUID | None:
    """The person a person-bound token was issued to (None for a client's own token)."""
    token = current_token._get_current_object() if current_token else None
    return getattr(token, "person_id", None) if token is not None else None
