"""Authlib's sign-on grants and token endpoints, with their storage hooks filled.

* Authorization code (RFC 6749 4.1) with PKCE (RFC 7636): S256 only; required for
  public clients, allowed for confidential ones. A code is consumed atomically the first
  time it is presented (one UPDATE … WHERE used_at IS NULL), so two racing exchanges
  cannot both win; presenting it again revokes every token issued from it (4.1.2).
* OpenID Connect (Core 3.1): ID token signed by the active key of `keys`, nonce kept
  with the code (and a nonce seen before refused), `sid` for back-channel logout.
* Refresh (RFC 6749 6) rotates: each use returns a new refresh token and marks the old
  one rotated; a rotated token presented again is theft (RFC 9700 4.14.2): the whole
  family (every token descending from the same code) is revoked.
* Introspection (RFC 7662) and revocation (RFC 7009).

Tokens, codes and refresh tokens are stored as keyed SHA-256, never in clear.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode
from flask import current_app, g, has_request_context, request
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor
from idhub.db import WRITE_METHODS, db_session, get_db
from idhub.keyring import Keyring
from idhub.models import AuthorizationCode, OAuthToken, Person, SsoSession, utcnow
from idhub.oidc import keys
from idhub.oidc.claims import person_can_sign_in, person_claims
from idhub.web.bearer import Token

log = logging.getLogger(__name__)
CONFIDENTIAL_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_METHODS = [*CONFIDENTIAL_METHODS, "none"]


@contextmanager
def writing() -> Iterator[Session]:
    """One write transaction: the request's own session on POST (which already holds the
    write lock on SQLite, so a second connection would wait on it), else a new one."""
    if has_request_context() and request.method in WRITE_METHODS:
        session = db_session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
    else:
        with get_db().transaction() as session:
            yield session


def _keyring() -> Keyring:
    return current_app.extensions["idhub.keyring"]


def _sso() -> dict[str, Any]:
    return current_app.extensions["idhub.settings"]["sso"]


def issuer() -> str:
    return current_app.extensions["idhub.issuer"]


class SignedIn:
    """The resource owner as Authlib sees it: a person, and the hub session it signed in with."""

    def __init__(self, person: Person, session: SsoSession | None) -> None:
        self.person = person
        self.session = session

    def get_user_id(self) -> str:
        return str(self.person.id)


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

    def get_client(self):  # type: ignore[no-untyped-def]
        from idhub.oidc.server import query_client

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


def revoke_family(session: Session, family_id: uuid.UUID, why: str) -> int:
    """Revoke every token descending from one authorization code."""
    result = session.execute(
        update(OAuthToken)
        .where(OAuthToken.family_id == family_id, OAuthToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    log.warning("token family revoked: %s", why, extra={"family_id": str(family_id)})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _audit(session: Session, action: str, object_id: Any, after: dict, actor: Actor | None = None):  # type: ignore[no-untyped-def]
    current_app.extensions["idhub.audit"].record(
        session,
        actor=actor or Actor("system", "sso", request_id=g.get("request_id")),
        action=action,
        object_type="sso",
        object_id=object_id,
        after=after,
    )


# ------------------------------------------------------------------ authorization code


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


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS  # "none" only for public clients (Client)

    def save_authorization_code(self, code: str, request) -> None:  # type: ignore[no-untyped-def]
        user: SignedIn = request.user
        data = request.payload.data
        now = utcnow()
        with writing() as session:
            session.add(
                AuthorizationCode(
                    code_hash=_keyring().token_hash(code),
                    client_id=request.client.get_client_id(),
                    person_id=user.person.id,
                    session_id=user.session.id if user.session else None,
                    redirect_uri=request.payload.redirect_uri
                    or request.client.get_default_redirect_uri(),
                    scope=request.scope or "",
                    nonce=data.get("nonce"),
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    auth_time=user.session.auth_time if user.session else now,
                    amr=list(user.session.amr) if user.session else [],
                    created_at=now,
                    expires_at=now + dt.timedelta(seconds=int(_sso()["code_ttl_s"])),
                )
            )

    def query_authorization_code(self, code: str, client) -> CodeModel | None:  # type: ignore[no-untyped-def]
        digest = _keyring().token_hash(code)
        now = utcnow()
        with writing() as session:
            consumed = session.execute(
                update(AuthorizationCode)
                .where(
                    AuthorizationCode.code_hash == digest,
                    AuthorizationCode.client_id == client.get_client_id(),
                    AuthorizationCode.used_at.is_(None),
                )
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            row = session.scalar(
                select(AuthorizationCode).where(
                    AuthorizationCode.code_hash == digest,
                    AuthorizationCode.client_id == client.get_client_id(),
                )
            )
            if row is None:
                return None
            if not consumed.rowcount:  # type: ignore[attr-defined]
                # Presented a second time: refuse, and revoke what the first use issued.
                revoked = revoke_family(session, row.id, "authorization code reused")
                _audit(
                    session,
                    "sso.code.reused",
                    row.id,
                    {"client_id": row.client_id, "tokens_revoked": revoked},
                )
                return None
            if row.expires_at <= now:
                return None
            session.expunge(row)
        return CodeModel(row)

    def delete_authorization_code(self, authorization_code: CodeModel) -> None:
        """Nothing to do: the code was consumed when it was looked up."""

    def authenticate_user(self, authorization_code: CodeModel) -> SignedIn | None:
        session = get_db().session(write=False)
        try:
            person = session.get(Person, authorization_code.row.person_id)
            hub_session = (
                session.get(SsoSession, authorization_code.row.session_id)
                if authorization_code.row.session_id
                else None
            )
        finally:
            session.close()
        if not person_can_sign_in(person):
            return None
        if hub_session is not None and hub_session.ended_at is not None:
            return None  # signed out (or disabled) between the redirect and the exchange
        assert person is not None
        return SignedIn(person, hub_session)


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only; a public client must use it (RFC 9700 2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri) -> None:  # type: ignore[no-untyped-def]
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        if challenge and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        if not challenge and grant.request.client.is_public:
            raise InvalidRequestError("Public clients must use PKCE (S256).")
        super().validate_code_challenge(grant, redirect_uri)


class IdhubOpenIDCode(OpenIDCode):
    def exists_nonce(self, nonce: str, request) -> bool:  # type: ignore[no-untyped-def]
        session = get_db().session(write=False)
        try:
            return bool(
                session.scalar(
                    select(AuthorizationCode.id)
                    .where(
                        AuthorizationCode.client_id == request.payload.client_id,
                        AuthorizationCode.nonce == nonce,
                    )
                    .limit(1)
                )
            )
        finally:
            session.close()

    def _signing(self) -> tuple[str, Any]:
        if "_sso_signing" not in g:
            g._sso_signing = keys.signing_key(
                get_db(), _keyring(), current_app.extensions["idhub.audit"]
            )
        return g._sso_signing

    def get_client_algorithm(self, client) -> str:  # type: ignore[no-untyped-def]
        return keys.ALG

    def get_encode_header(self, client) -> dict:  # type: ignore[no-untyped-def]
        return {"alg": keys.ALG, "kid": self._signing()[0], "typ": "JWT"}

    def resolve_client_private_key(self, client):  # type: ignore[no-untyped-def]
        return self._signing()[1]

    def get_client_claims(self, client) -> dict:  # type: ignore[no-untyped-def]
        import time

        return {
            "iss": issuer(),
            "aud": [client.get_client_id()],
            "exp": int(time.time()) + int(_sso()["id_token_ttl_s"]),
        }

    def get_authorization_code_claims(self, authorization_code: CodeModel) -> dict:
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.row.session_id:
            claims["sid"] = str(authorization_code.row.session_id)
        return claims

    def generate_user_info(self, user: SignedIn, scope: str) -> UserInfo:
        return user_info(user, scope)


def user_info(user: SignedIn, scope: str) -> UserInfo:
    session = get_db().session(write=False)
    try:
        person = session.get(Person, user.person.id)
        assert person is not None
        return UserInfo(person_claims(session, person, set(scope.split())))
    finally:
        session.close()


# ------------------------------------------------------------------ refresh


class RotatingRefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> PersonToken | None:
        digest = _keyring().token_hash(refresh_token)
        with writing() as session:
            row = session.scalar(select(OAuthToken).where(OAuthToken.refresh_token_hash == digest))
            if row is None:
                return None
            if row.refresh_rotated_at is not None and row.family_id is not None:
                revoked = revoke_family(session, row.family_id, "rotated refresh token reused")
                _audit(
                    session,
                    "sso.refresh.reused",
                    row.family_id,
                    {"client_id": row.client_id, "tokens_revoked": revoked},
                )
                return None
            session.expunge(row)
        token = PersonToken(row, "refresh_token")
        if token.is_revoked() or token.is_expired():
            return None
        return token

    def authenticate_user(self, refresh_token: PersonToken) -> SignedIn | None:
        session = get_db().session(write=False)
        try:
            person = session.get(Person, refresh_token.row.person_id)
            hub_session = (
                session.get(SsoSession, refresh_token.row.session_id)
                if refresh_token.row.session_id
                else None
            )
        finally:
            session.close()
        if not person_can_sign_in(person):
            return None
        assert person is not None
        return SignedIn(person, hub_session)

    def revoke_old_credential(self, refresh_token: PersonToken) -> None:
        with writing() as session:
            rotated = session.execute(
                update(OAuthToken)
                .where(
                    OAuthToken.id == refresh_token.row.id, OAuthToken.refresh_rotated_at.is_(None)
                )
                .values(refresh_rotated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if not rotated.rowcount and refresh_token.row.family_id:  # type: ignore[attr-defined]
                # Another request rotated it at the same moment: one of them is a thief.
                revoke_family(session, refresh_token.row.family_id, "concurrent refresh reuse")
                session.commit()
                raise InvalidGrantError("The refresh token was already used.")


def save_person_token(token: dict, request) -> None:  # type: ignore[no-untyped-def]
    """Store a token issued to a person (code or refresh grant), hashed."""
    keyring = _keyring()
    now = utcnow()
    code = getattr(request, "authorization_code", None)
    previous: PersonToken | None = getattr(request, "refresh_token", None)
    user: SignedIn = request.user
    refresh_expires: dt.datetime | None
    if code is not None:
        family_id, session_id = code.row.id, code.row.session_id
        refresh_expires = now + dt.timedelta(seconds=int(_sso()["refresh_token_ttl_s"]))
    elif previous is not None:
        family_id, session_id = previous.row.family_id, previous.row.session_id
        refresh_expires = previous.row.refresh_expires_at  # a family's lifetime is absolute
    else:  # pragma: no cover - no other grant issues person tokens
        raise RuntimeError("person token without a code or a refresh token")
    refresh = token.get("refresh_token")
    with writing() as session:
        session.add(
            OAuthToken(
                client_id=request.client.get_client_id(),
                access_token_hash=keyring.token_hash(token["access_token"]),
                token_type=token.get("token_type", "Bearer"),
                scope=token.get("scope", ""),
                issued_at=now,
                expires_at=now + dt.timedelta(seconds=int(token["expires_in"])),
                person_id=user.person.id,
                session_id=session_id,
                refresh_token_hash=keyring.token_hash(refresh) if refresh else None,
                refresh_expires_at=refresh_expires if refresh else None,
                family_id=family_id,
            )
        )
    log.info(
        "person token issued",
        extra={"client_id": request.client.get_client_id(), "scope": token.get("scope", "")},
    )


# ------------------------------------------------------------------ introspection, revocation


def _query_token(token_string: str, hint: str | None) -> PersonToken | None:
    digest = _keyring().token_hash(token_string)
    session = get_db().session(write=False)
    try:
        order = (
            ["refresh_token", "access_token"]
            if hint == "refresh_token"
            else [
                "access_token",
                "refresh_token",
            ]
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


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def query_token(self, token_string, token_type_hint):  # type: ignore[no-untyped-def]
        return _query_token(token_string, token_type_hint)

    def check_permission(self, token, client, request) -> bool:  # type: ignore[no-untyped-def]
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
            finally:
                session.close()
        return payload


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_METHODS

    def query_token(self, token_string, token_type_hint):  # type: ignore[no-untyped-def]
        return _query_token(token_string, token_type_hint)

    def revoke_token(self, token: PersonToken, request) -> None:  # type: ignore[no-untyped-def]
        with writing() as session:
            if token.kind == "refresh_token" and token.row.family_id is not None:
                # RFC 7009 2.1: revoking a refresh token also revokes the grant's access tokens.
                revoke_family(session, token.row.family_id, "refresh token revoked by its client")
            else:
                session.execute(
                    update(OAuthToken)
                    .where(OAuthToken.id == token.row.id, OAuthToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                )


class UserInfoView(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return issuer()

    def generate_user_info(self, user: SignedIn, scope: str) -> UserInfo:
        return user_info(user, scope)

    def resolve_private_key(self):  # type: ignore[no-untyped-def]
        return keys.signing_key(get_db(), _keyring(), current_app.extensions["idhub.audit"])[1]
