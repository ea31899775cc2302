"""Authorization code (RFC 6749 4.1) with PKCE (RFC 7636) and the OpenID Connect code
flow (Core 3.1): Authlib's grant and extensions, their storage hooks filled.

* A code is consumed atomically the first time it is presented (one UPDATE … WHERE
  used_at IS NULL), so two racing exchanges cannot both win; presenting it again revokes
  every token issued from it (RFC 6749 4.1.2).
* PKCE: S256 only, required for every client, confidential ones too (RFC 9700 2.1.1:
  it also stops code injection, which a client secret does not).
* Refresh tokens only when the app asked for `offline_access`, unless the client is
  registered to get them without it (`refresh_without_offline`).
* OpenID: ID token signed by the active key of `keys`, nonce kept with the code (and a
  nonce seen before refused), `sid` for back-channel logout.

Codes are stored as keyed SHA-256, never in clear.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request, grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from flask import g
from sqlalchemy import bindparam, insert, select, update

from idhub.db import db_session, get_db, table_of
from idhub.models import AuthorizationCode, utcnow
from idhub.oidc import keys
from idhub.oidc.models import ALL_METHODS, Client, CodeModel, SignedIn, issued_to
from idhub.oidc.storage import (
    audit_log,
    issuer,
    keyring,
    refuse_replay,
    sso_settings,
    writing_statements,
)
from idhub.oidc.userinfo import user_info

# The statements of the hot path, built once (building one costs more than running it).
_CODES = table_of(AuthorizationCode)
_NEW_CODE = insert(_CODES)
_MINE = (
    _CODES.c.code_hash == bindparam("b_code_hash"),
    _CODES.c.client_id == bindparam("b_client_id"),
)
_CONSUME = (
    update(_CODES)
    .where(*_MINE, _CODES.c.used_at.is_(None))
    .values(used_at=bindparam("now"))
    .returning(*_CODES.c)
)
_SPENT = select(_CODES.c.id, _CODES.c.client_id).where(*_MINE)
_NONCE_SEEN = (
    select(_CODES.c.id)
    .where(_CODES.c.client_id == bindparam("client_id"), _CODES.c.nonce == bindparam("nonce"))
    .limit(1)
)


def offers_refresh(client: Client, scope: str | None) -> bool:
    """A refresh token for this grant: the client may refresh, and the app asked for
    offline access (or the client is registered to get one without asking)."""
    if not client.check_grant_type("refresh_token"):
        return False
    return client.row.refresh_without_offline or "offline_access" in (scope or "").split()


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS  # "none" only for public clients (Client)

    _validated: tuple[str | None] | None = None

    def validate_authorization_request(self) -> str | None:
        """Authlib validates the same request twice (for the consent page, then again
        before the redirect back): the checks run once per grant, the answer (or the
        error) is the same the second time."""
        if self._validated is None:
            self._validated = (super().validate_authorization_request(),)
        return self._validated[0]

    def generate_token(self, *args: Any, include_refresh_token: bool = True, **kwargs: Any) -> dict:
        scope = kwargs.get("scope")
        include = include_refresh_token and offers_refresh(self.request.client, scope)
        return super().generate_token(*args, include_refresh_token=include, **kwargs)

    def generate_authorization_code(self) -> str:
        """288 random bits from `secrets` in one call (48 characters, like Authlib's)."""
        return secrets.token_urlsafe(36)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        user: SignedIn = request.user
        data = request.payload.data
        now = utcnow()
        hub_session = user.session
        with writing_statements() as connection:
            connection.execute(
                _NEW_CODE,
                {
                    "id": uuid.uuid4(),
                    "code_hash": keyring().token_hash(code),
                    "client_id": request.client.get_client_id(),
                    "person_id": user.person.id,
                    "session_id": hub_session.id if hub_session else None,
                    "redirect_uri": request.payload.redirect_uri
                    or request.client.get_default_redirect_uri(),
                    "scope": request.scope or "",
                    "nonce": data.get("nonce"),
                    "code_challenge": data.get("code_challenge"),
                    "code_challenge_method": data.get("code_challenge_method"),
                    "auth_time": hub_session.auth_time if hub_session else now,
                    "amr": list(hub_session.amr) if hub_session else [],
                    "created_at": now,
                    "expires_at": now + dt.timedelta(seconds=sso_settings().code_ttl_s),
                },
            )

    def query_authorization_code(self, code: str, client: Client) -> CodeModel | None:
        digest = keyring().token_hash(code)
        now = utcnow()
        mine = {"b_code_hash": digest, "b_client_id": client.get_client_id()}
        # The request's write transaction: the token is stored in the same one (one
        # commit), and /oauth/token commits it even when the exchange fails after this.
        session = db_session()
        # Consumed and read in one statement: only the first presentation gets the row.
        row: Any = session.connection().execute(_CONSUME, {**mine, "now": now}).first()
        if row is None:
            known = session.connection().execute(_SPENT, mine).first()
            if known is not None:
                # Presented a second time: refuse, and revoke what the first use issued.
                refuse_replay(
                    session,
                    known.id,
                    known.client_id,
                    action="sso.code.reused",
                    why="authorization code reused",
                )
                session.commit()
            return None
        if row.expires_at <= now:
            return None
        return CodeModel(row)

    def delete_authorization_code(self, authorization_code: CodeModel) -> None:
        """Nothing to do: the code was consumed when it was looked up."""

    def authenticate_user(self, authorization_code: CodeModel) -> SignedIn | None:
        row = authorization_code.row
        return issued_to(row.person_id, row.session_id, live_session=True)


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only; every client must use it (RFC 9700 2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(
        self, grant: grants.AuthorizationCodeGrant, redirect_uri: str | None
    ) -> None:
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        if challenge and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        if not challenge:
            raise InvalidRequestError("PKCE (S256) is required: send code_challenge.")
        super().validate_code_challenge(grant, redirect_uri)


class IdhubOpenIDCode(OpenIDCode):
    """The OpenID Connect code flow: the ID token next to the access token."""

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        # The request's own transaction: the client was just read in it.
        found = (
            db_session()
            .connection()
            .execute(_NONCE_SEEN, {"client_id": request.payload.client_id, "nonce": nonce})
        )
        return found.first() is not None

    def _signing(self) -> tuple[str, Any]:
        if "_sso_signing" not in g:
            g._sso_signing = keys.signing_key(get_db(), keyring(), audit_log())
        return g._sso_signing

    def get_client_algorithm(self, client: Client) -> str:
        return keys.ALG

    def get_encode_header(self, client: Client) -> dict:
        return {"alg": keys.ALG, "kid": self._signing()[0], "typ": "JWT"}

    def resolve_client_private_key(self, client: Client) -> Any:
        return self._signing()[1]

    def get_client_claims(self, client: Client) -> dict:
        return {
            "iss": issuer(),
            "aud": [client.get_client_id()],
            "exp": int(time.time()) + sso_settings().id_token_ttl_s,
        }

    def get_authorization_code_claims(self, authorization_code: CodeModel) -> dict:
        claims = super().get_authorization_code_claims(authorization_code)
        if authorization_code.row.session_id:
            claims["sid"] = str(authorization_code.row.session_id)
        return claims

    def encode_id_token(self, token: dict, request: OAuth2Request) -> str:
        g._sso_id_token_client = request.client.row  # whose app roles go in
        return str(super().encode_id_token(token, request))

    def generate_user_info(self, user: SignedIn, scope: str) -> UserInfo:
        return user_info(user, scope, g.get("_sso_id_token_client"))
