"""Sealed client-credential access tokens: self-contained, so issuing one writes nothing.

    idc1.<payload>.<mac>     payload: base64url(JSON {k, c, s, i, e, j, v}), mac: base64url
                             of HMAC-SHA256(key k, "idc1.<payload>"), 32 bytes

k: the sealing key's id; c: client id; s: scope; i, e: issued at, expires at (Unix ms:
a client disabled and enabled again within a second refuses only what came before);
j: 128 random bits (the jti, what revocation lists); v: a fingerprint of the client's
secret hash (a new secret ends the tokens of the old one). Only the hub opens them (its
API; other resource servers ask introspection), so a MAC is enough: no signature.

Opening one checks the seal and expiry in memory, then reads, in one statement, the
client row and the token's deny-list entry: a deleted or disabled client, a client
disabled since the token was issued (`tokens_revoked_at`), a changed secret or a revoked
jti (RFC 7009) all refuse it at once. Person tokens (the sign-on grants) stay stored rows.

Keys: the keyring's `token_seal_key`, one key a line; the first seals, every line opens
(a key is found by its id). To rotate: put a new key on the first line, keep the old one
below it for one token lifetime ([oauth] access_token_ttl_s), then drop it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select

from idhub.db import get_db, table_of, upsert
from idhub.keyring import Keyring
from idhub.models import OAuthClient, TokenDenylist, utcnow
from idhub.oidc.plain import PlainRead, utc

PREFIX = "idc1."
_KEY_NAME = "token_seal_key"


@dataclass(frozen=True)
class SealKeys:
    """The sealing key (first line) and every key that still opens, by id."""

    current_id: str
    by_id: dict[str, bytes]


_keys_cache: dict[str, SealKeys] = {}


def seal_keys(keyring: Keyring) -> SealKeys:
    raw = keyring.get(_KEY_NAME)
    found = _keys_cache.get(raw)
    if found is None:
        keys = [line.strip().encode() for line in raw.splitlines() if line.strip()]
        by_id = {hashlib.sha256(key).hexdigest()[:8]: key for key in keys}
        found = _keys_cache[raw] = SealKeys(hashlib.sha256(keys[0]).hexdigest()[:8], by_id)
    return found


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _secret_print(key: bytes, secret_hash: str | None) -> str:
    digest = hmac.new(key, b"secret:" + (secret_hash or "").encode(), hashlib.sha256).digest()
    return _b64(digest[:12])


def seal(keyring: Keyring, client: OAuthClient, scope: str, ttl_s: int) -> tuple[str, int]:
    """A new sealed access token for this client; with its expiry (Unix seconds)."""
    keys = seal_keys(keyring)
    key = keys.by_id[keys.current_id]
    now = int(time.time() * 1000)
    payload = {
        "k": keys.current_id,
        "c": client.client_id,
        "s": scope,
        "i": now,
        "e": now + ttl_s * 1000,
        "j": secrets.token_urlsafe(16),
        "v": _secret_print(key, client.client_secret_hash),
    }
    body = PREFIX + _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())
    return body + "." + mac, now // 1000 + ttl_s


def is_sealed(token_string: str) -> bool:
    return token_string.startswith(PREFIX)


@dataclass
class SealedRow:
    """What a stored token row would say of a sealed token (the bearer check, introspection
    and revocation read these attributes)."""

    client_id: str
    scope: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    jti: str
    revoked_at: dt.datetime | None = None
    # The client's subtree limit (delegated administration), read with its standing.
    subtree_unit_id: uuid.UUID | None = None
    person_id: None = None
    session_id: None = None
    family_id: None = None
    refresh_expires_at: None = None
    refresh_rotated_at: None = None
    id: None = None


def _opened(keyring: Keyring, token_string: str) -> tuple[dict[str, Any], bytes] | None:
    """The payload and key of a token whose seal holds (expired or not), else None."""
    body, dot, mac = token_string.rpartition(".")
    if not dot or not body.startswith(PREFIX) or len(token_string) > 2048:
        return None
    try:
        payload = json.loads(_unb64(body[len(PREFIX) :]))
        given = _unb64(mac)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    key = seal_keys(keyring).by_id.get(str(payload.get("k")))
    if key is None:
        return None
    if not hmac.compare_digest(hmac.new(key, body.encode(), hashlib.sha256).digest(), given):
        return None
    return payload, key


# The client and the token's deny-list entry, in one statement.
_CLIENTS = table_of(OAuthClient)
_DENIED = table_of(TokenDenylist)
_STANDING = PlainRead(
    select(
        _CLIENTS.c.client_secret_hash,
        _CLIENTS.c.scope,
        _CLIENTS.c.disabled_at,
        _CLIENTS.c.tokens_revoked_at,
        _CLIENTS.c.subtree_unit_id,
        select(_DENIED.c.jti)
        .where(_DENIED.c.jti == bindparam("jti"))
        .scalar_subquery()
        .label("denied"),
    ).where(_CLIENTS.c.client_id == bindparam("client_id"))
)


def _refused(client: dict[str, Any], issued_at: dt.datetime, key: bytes, fingerprint: str) -> bool:
    """Is the client gone from under the token: disabled (now or since it was issued), a
    new secret, or the token's jti denied?"""
    cut = utc(client["tokens_revoked_at"])
    return (
        client["disabled_at"] is not None
        or (cut is not None and issued_at <= cut)
        or client["denied"] is not None
        or not hmac.compare_digest(_secret_print(key, client["client_secret_hash"]), fingerprint)
    )


def open_sealed(keyring: Keyring, token_string: str) -> SealedRow | None:
    """A sealed token as a row: None when the seal does not hold (unknown); `revoked_at`
    set when its client is gone, disabled or has a new secret, or its jti is denied;
    its scope narrowed to what the client holds now. Expiry is the caller's check."""
    opened = _opened(keyring, token_string)
    if opened is None:
        return None
    payload, key = opened
    try:
        client_id, scope, jti = str(payload["c"]), str(payload["s"]), str(payload["j"])
        issued, expires = int(payload["i"]), int(payload["e"])
        fingerprint = str(payload["v"])
    except (KeyError, TypeError, ValueError):
        return None
    row = SealedRow(
        client_id=client_id,
        scope=scope,
        issued_at=dt.datetime.fromtimestamp(issued / 1000, dt.UTC),
        expires_at=dt.datetime.fromtimestamp(expires / 1000, dt.UTC),
        jti=jti,
    )
    if expires <= time.time() * 1000:
        return row  # expired: no need to ask the database
    client = _STANDING.first(get_db().engine, {"client_id": client_id, "jti": jti})
    if client is None or _refused(client, row.issued_at, key, fingerprint):
        row.revoked_at = utcnow()
        return row
    held = set(client["scope"].split())
    subtree = client["subtree_unit_id"]  # the driver's value: hex text on SQLite, a UUID on PG
    row.subtree_unit_id = uuid.UUID(str(subtree)) if subtree is not None else None
    row.scope = " ".join(s for s in scope.split() if s in held)
    return row


def deny(session: Any, row: SealedRow) -> None:
    """Revoke one sealed token until it expires (RFC 7009); expired entries are dropped."""
    now = utcnow()
    session.execute(delete(TokenDenylist).where(TokenDenylist.expires_at < now))
    session.execute(
        upsert(session, _DENIED)
        .values(jti=row.jti, client_id=row.client_id, revoked_at=now, expires_at=row.expires_at)
        .on_conflict_do_nothing(index_elements=["jti"])
    )
