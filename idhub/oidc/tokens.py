"""Storing what the token endpoint issues (Authlib's `save_token`): a person's access and
refresh tokens, as keyed SHA-256 digests, never the values. A client's own token (client
credentials) is sealed and stored nowhere (`sealed`)."""

from __future__ import annotations

import datetime as dt
import logging

from authlib.oauth2.rfc6749 import OAuth2Request
from sqlalchemy import insert

from idhub.db import table_of
from idhub.models import OAuthToken, utcnow
from idhub.oidc.models import PersonToken, SignedIn
from idhub.oidc.storage import keyring, sso_settings, writing

log = logging.getLogger(__name__)
_NEW_TOKEN = insert(table_of(OAuthToken))  # a Core INSERT: one statement, no unit of work


def save_token(token: dict, request: OAuth2Request) -> None:
    """Authlib's `save_token` for every grant at /oauth/token that stores its tokens (the
    sign-on grants); client credentials seal theirs and never call it."""
    if getattr(request, "user", None) is None:  # pragma: no cover - no such grant
        raise RuntimeError("only a person's tokens are stored")
    save_person_token(token, request)


def save_person_token(token: dict, request: OAuth2Request) -> None:
    """Store a token issued to a person (code or refresh grant), hashed."""
    keys = keyring()
    now = utcnow()
    code = getattr(request, "authorization_code", None)
    previous: PersonToken | None = getattr(request, "refresh_token", None)
    user: SignedIn = request.user
    refresh_expires: dt.datetime | None
    if code is not None:
        family_id, session_id = code.row.id, code.row.session_id
        ttl = request.client.row.refresh_token_ttl_s or sso_settings().refresh_token_ttl_s
        refresh_expires = now + dt.timedelta(seconds=ttl)
    elif previous is not None:
        family_id, session_id = previous.row.family_id, previous.row.session_id
        refresh_expires = previous.row.refresh_expires_at  # a family's lifetime is absolute
    else:  # pragma: no cover - no other grant issues person tokens
        raise RuntimeError("person token without a code or a refresh token")
    refresh = token.get("refresh_token")
    with writing() as session:
        session.connection().execute(
            _NEW_TOKEN,
            {
                "client_id": request.client.get_client_id(),
                "access_token_hash": keys.token_hash(token["access_token"]),
                "token_type": token.get("token_type", "Bearer"),
                "scope": token.get("scope", ""),
                "issued_at": now,
                "expires_at": now + dt.timedelta(seconds=int(token["expires_in"])),
                "person_id": user.person.id,
                "session_id": session_id,
                "refresh_token_hash": keys.token_hash(refresh) if refresh else None,
                "refresh_expires_at": refresh_expires if refresh else None,
                "family_id": family_id,
            },
        )
    log.info(
        "person token issued",
        extra={"client_id": request.client.get_client_id(), "scope": token.get("scope", "")},
    )
