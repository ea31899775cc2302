"""Personal data sealed at rest (Nghị định 13/2023/NĐ-CP): column types that encrypt on the
way in and decrypt on the way out, and the keyed blind index that finds a CCCD.

`Sealed("person.national_id")` stores `v<N>.<base64url(nonce ‖ AES-256-GCM ciphertext)>`:
a fresh 96-bit nonce per value, the column's name as associated data (a value copied into
another column does not open), `v<N>` naming the key that sealed it so keys can rotate
(`personal_data_key` holds one `<N>:<base64 key>` a line; the first seals, all open).

`audit_fields` names a table's sealed attributes, so the audit trail keeps `mark`s of
them, never the values (idhub/changes/chain.py).

`BlindIndex` stores HMAC-SHA256(`personal_index_key`, normalised CCCD) in hex: equal
CCCDs give equal values, so a unique index and `=` / `IN` lookups still work, and a
comparison's bound value is hashed by the same type. Without the key the database alone
cannot be used to test guesses (a CCCD has only ~10^9 plausible values).

The keys reach the types through the engine's dialect (`attach`), so every engine (each
test's, each node's) carries its own and the types need no global state.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, operators
from sqlalchemy.types import String, TypeDecorator

_ATTRIBUTE = "idhub_personal_keys"


def new_data_key() -> str:
    """A fresh `personal_data_key` value: version 1, 32 random bytes."""
    return "1:" + base64.urlsafe_b64encode(os.urandom(32)).decode()


def new_index_key() -> str:
    return secrets.token_urlsafe(48)


def normalise_cccd(value: str) -> str:
    """The form the blind index is taken over: digits only, no spaces."""
    return "".join(value.split())


class SealError(RuntimeError):
    """A sealed value that this node's keys do not open (wrong key, or moved/tampered)."""


class PersonalKeys:
    """The data key ring (version → AES key) and the blind-index key."""

    def __init__(self, data_key: str, index_key: str) -> None:
        self.keys: dict[str, AESGCM] = {}
        self.current = ""
        for line in data_key.split():
            version, _, encoded = line.partition(":")
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            if not version.isdigit() or len(raw) != 32:
                raise ValueError("personal_data_key: each line is <version>:<base64 32 bytes>")
            self.keys[version] = AESGCM(raw)
            self.current = self.current or version
        if not self.current:
            raise ValueError("personal_data_key is empty")
        self.index_key = index_key.encode()

    def seal(self, plain: str, where: str) -> str:
        nonce = os.urandom(12)
        sealed = self.keys[self.current].encrypt(nonce, plain.encode(), where.encode())
        return f"v{self.current}." + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, stored: str, where: str) -> str:
        version, _, body = stored.partition(".")
        aes = self.keys.get(version[1:])
        if not version.startswith("v") or aes is None:
            raise SealError(f"{where}: sealed with key version {version!r}, which is not held")
        raw = base64.urlsafe_b64decode(body)
        try:
            return aes.decrypt(raw[:12], raw[12:], where.encode()).decode()
        except InvalidTag as exc:
            raise SealError(f"{where}: the value does not open with this node's key") from exc

    def blind(self, cccd: str) -> str:
        digest = hmac.new(self.index_key, normalise_cccd(cccd).encode(), hashlib.sha256)
        return digest.hexdigest()

    def mark(self, plain: str, where: str) -> str:
        """What the audit trail keeps of a sealed value: 12 hex of an HMAC under the index
        key over the column's name and the value as given (not normalised: a change of
        spacing in a phone number is a change). Equal values give equal marks (a reader sees
        THAT it changed); without the index key a mark tests no guess; the column's name
        keeps a CCCD's mark apart from its blind index in `person`."""
        message = f"{where}={plain}".encode()
        return hmac.new(self.index_key, message, hashlib.sha256).hexdigest()[:12]


def attach(engine: Engine, keys: Callable[[], PersonalKeys]) -> None:
    """Give this engine's sealed columns their keys (asked on first use)."""
    setattr(engine.dialect, _ATTRIBUTE, _Lazy(keys))


def keys_of(dialect: Dialect) -> PersonalKeys:
    lazy = getattr(dialect, _ATTRIBUTE, None)
    if lazy is None:
        raise SealError(
            "this database engine has no personal data keys: build it through the Hub "
            "(idhub.services) or call idhub.models.sealed.attach"
        )
    keys: PersonalKeys = lazy()
    return keys


class _Lazy:
    def __init__(self, make: Callable[[], PersonalKeys]) -> None:
        self.make = make
        self.keys: PersonalKeys | None = None

    def __call__(self) -> PersonalKeys:
        if self.keys is None:
            self.keys = self.make()
        return self.keys


class _NoCompare(Text.Comparator):  # type: ignore[type-arg]
    """A sealed value is different each time it is written: comparing or ordering by it
    would silently match nothing. Only IS [NOT] NULL is allowed."""

    def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
        # Against another column (SQLAlchemy's own bookkeeping does so) or NULL: allowed.
        literal = any(not isinstance(o, ClauseElement) for o in other)
        if op in (operators.is_, operators.is_not) or not literal:
            return super().operate(op, *other, **kwargs)
        raise TypeError(
            "a sealed personal-data column cannot be compared or ordered; find a person by "
            "CCCD with idhub.identity.personal.cccd_clause"
        )


class Sealed(TypeDecorator[Any]):
    """Text or a date, sealed with AES-256-GCM; `where` (table.column) is the AD."""

    impl = Text
    cache_ok = True
    comparator_factory = _NoCompare

    def __init__(self, where: str, *, date: bool = False) -> None:
        super().__init__()
        self.where = where
        self.date = date

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        plain = value.isoformat() if isinstance(value, dt.date) else str(value)
        return keys_of(dialect).seal(plain, self.where)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        plain = keys_of(dialect).open(value, self.where)
        return dt.date.fromisoformat(plain) if self.date else plain

    @property
    def python_type(self) -> type:
        return dt.date if self.date else str


class SealedJSON(TypeDecorator[Any]):
    """A JSON value holding personal data (e.g. an import's rows before confirmation),
    sealed whole like a Sealed column."""

    impl = Text
    cache_ok = True
    comparator_factory = _NoCompare

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keys_of(dialect).seal(json.dumps(value, ensure_ascii=False), self.where)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return json.loads(keys_of(dialect).open(value, self.where))


class BlindIndex(TypeDecorator[str]):
    """The keyed hash of a CCCD: bound values (stored or compared) are hashed."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else keys_of(dialect).blind(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        return value  # only the hash is kept: it cannot be turned back


def audit_fields(mapper: Any) -> dict[str, str]:
    """A mapped class's sealed attributes (key → the column's `where`), found by their
    column types, so that a column sealed later is covered without a list to keep."""
    found = {}
    for attr in mapper.column_attrs:
        kind = attr.columns[0].type
        if isinstance(kind, Sealed | SealedJSON):
            found[attr.key] = kind.where
    return found


def index_default(context: Any) -> str | None:
    """Column default: the blind index of the row's national_id (hashed by the type)."""
    value: str | None = context.get_current_parameters().get("national_id")
    return value
