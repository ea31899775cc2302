"""Authlib's views of our rows (its *Mixin models): a registered client, the signed-in
person, a stored token, a consumed authorization code."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, cast

from authlib.oauth2.rfc6749 import ClientMixin
from flask import g, has_request_context
from sqlalchemy import bindparam, select

from idhub.db import db_session, get_db, table_of
from idhub.keyring import Keyring
from idhub.models import AuthorizationCode, OAuthClient, OAuthToken, Person, SsoSession, utcnow
from idhub.oidc.claims import person_can_sign_in
from idhub.oidc.plain import PlainRead, json_list
from idhub.oidc.sealed import is_sealed, open_sealed
from idhub.oidc.storage import keyring
from idhub.web.bearer import Token

# Client secrets may come in the Authorization header or the form body (RFC 6749 2.3.1);
# "none" is for public clients, which have no secret (they use PKCE).
CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_METHODS = [*CONFIDENTIAL_METHODS, "none"]


class Client(ClientMixin):
    """Authlib's view of a registered client (API clients and sign-on apps alike)."""

    def __init__(self, row: OAuthClient, keyring: Keyring) -> None:
        self.row = row
        self._keyring = keyring
        self.client_metadata: dict = {}  # read by Authlib's userinfo endpoint

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def is_public(self) -> bool:
        return self.row.client_type == "public"

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Only an unambiguous registration may be used without naming it.
        uris = self.row.redirect_uris or []
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.row.scope.split())
        if not scope:
            return " ".join(sorted(allowed))
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match (RFC 9700 2.1): no prefixes, no wildcards, no normalisation.
        return redirect_uri in (self.row.redirect_uris or [])

    def check_client_secret(self, client_secret: str) -> bool:
        stored = self.row.client_secret_hash
        if not stored:  # a public client has none
            return False
        return self._keyring.token_matches(client_secret, stored)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in CONFIDENTIAL_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in (self.row.grant_types or [])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.row.grant_types or [])


_CLIENTS = table_of(OAuthClient)
_BY_CLIENT_ID = select(_CLIENTS).where(
    _CLIENTS.c.client_id == bindparam("client_id"),
    _CLIENTS.c.disabled_at.is_(None),
)


# What a client-credentials exchange needs of its client, read without a Session.
_CC_CLIENT = PlainRead(
    select(
        _CLIENTS.c.client_id,
        _CLIENTS.c.client_secret_hash,
        _CLIENTS.c.client_type,
        _CLIENTS.c.scope,
        _CLIENTS.c.grant_types,
    ).where(_CLIENTS.c.client_id == bindparam("client_id"), _CLIENTS.c.disabled_at.is_(None))
)
CC_REQUEST = "_oauth_cc_request"  # set on g by /oauth/token for a client-credentials grant


def query_client(client_id: str) -> Client | None:
    """A registered, enabled client (Authlib's `query_client`), read once per request (the
    authorization endpoint asks for it at each step): a plain row, not a tracked instance.
    A client-credentials exchange (it writes nothing) reads the few columns it needs in
    one plain read (`plain`)."""
    cache: dict[str, Client | None] | None = None
    if has_request_context():
        cache = g.setdefault("_oauth_clients", {})
        if client_id in cache:
            return cache[client_id]
    row: Any
    if has_request_context() and g.get(CC_REQUEST):
        plain = _CC_CLIENT.first(get_db().engine, {"client_id": client_id})
        if plain is not None:
            plain["grant_types"] = json_list(plain["grant_types"])
        row = SimpleNamespace(**plain) if plain is not None else None
    else:
        row = db_session().connection().execute(_BY_CLIENT_ID, {"client_id": client_id}).first()
    # A Core row has the model's attribute names: Client reads it as it would the model.
    client = Client(cast(OAuthClient, row), keyring()) if row is not None else None
    if cache is not None:
        cache[client_id] = client
    return client


# The person and (if any) whether the hub session of a code or refresh token has ended:
# one query, plain columns (the token endpoint reads them, nothing tracks them).
_PEOPLE = table_of(Person)
_SESSIONS = table_of(SsoSession)
_ISSUED_TO = (
    select(*_PEOPLE.c, _SESSIONS.c.id.label("hub_session_id"), _SESSIONS.c.ended_at)
    .select_from(_PEOPLE)
    .outerjoin(_SESSIONS, _SESSIONS.c.id == bindparam("session_id"))
    .where(_PEOPLE.c.id == bindparam("person_id"))
)


class SignedIn:
    """The resource owner as Authlib sees it: a person, and the hub session it signed in with."""

    def __init__(self, person: Person, session: SsoSession | None) -> None:
        self.person = person
        self.session = session

    def get_user_id(self) -> str:
        return str(self.person.id)


def issued_to(
    person_id: uuid.UUID | None, session_id: uuid.UUID | None, *, live_session: bool
) -> SignedIn | None:
    """The person a code or refresh token was issued to, if HR still lets them sign in
    (the grants' `authenticate_user`). With `live_session`, also None once the hub
    session it was issued in has ended."""
    # In the token request's own transaction (on SQLite it holds the write lock by now):
    # no second connection is taken while the lock is held.
    found = (
        db_session()
        .connection()
        .execute(_ISSUED_TO, {"person_id": person_id, "session_id": session_id})
    )
    person: Any = found.first()  # a row with the person's columns, read as a Person
    if not person_can_sign_in(person):
        return None
    if live_session and person.hub_session_id is not None and person.ended_at is not None:
        return None  # signed out (or disabled) between the redirect and the exchange
    return SignedIn(person, None)


class PersonToken(Token):
    """A stored token row as Authlib's token (userinfo, refresh, introspection, revocation)."""

    def __init__(self, row: OAuthToken, kind: str = "access_token") -> None:
        super().__init__(row)
        self.kind = kind

    def get_user(self) -> SignedIn | None:
        if self.row.person_id is None:
            return None
        session = get_db().session(write=False)
        try:
            person = session.get(Person, self.row.person_id)
        finally:
            session.close()
        if person is None or not person_can_sign_in(person):
            return None
        return SignedIn(person, None)

    def get_client(self) -> Client | None:
        return query_client(self.row.client_id)

    @property
    def scope(self) -> str:
        return self.row.scope

    def is_expired(self) -> bool:
        if self.kind == "refresh_token":
            expires = self.row.refresh_expires_at
            return expires is None or expires <= utcnow()
        return super().is_expired()

    def is_revoked(self) -> bool:
        if self.kind == "refresh_token":
            return self.row.revoked_at is not None or self.row.refresh_rotated_at is not None
        return super().is_revoked()


def find_token(token_string: str, hint: str | None) -> PersonToken | None:
    """A token by its value, access or refresh, the hinted kind tried first (introspection
    and revocation's `query_token`): a sealed client token opened, a stored one found."""
    if is_sealed(token_string):
        sealed = open_sealed(keyring(), token_string)
        return PersonToken(cast(OAuthToken, sealed)) if sealed is not None else None
    digest = keyring().token_hash(token_string)
    session = get_db().session(write=False)
    try:
        order = (
            ["refresh_token", "access_token"]
            if hint == "refresh_token"
            else ["access_token", "refresh_token"]
        )
        for kind in order:
            column = (
                OAuthToken.access_token_hash
                if kind == "access_token"
                else OAuthToken.refresh_token_hash
            )
            row = session.scalar(select(OAuthToken).where(column == digest))
            if row is not None:
                session.expunge(row)
                return PersonToken(row, kind)
        return None
    finally:
        session.close()


class CodeModel:
    """Authlib's view of a consumed code row (OIDC's AuthorizationCodeMixin)."""

    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str | None:
        return None

    def get_amr(self) -> list[str] | None:
        return list(self.row.amr or []) or None
