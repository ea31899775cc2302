"""The audit trail: who changed what, why, before and after; hash-chained so tampering shows.

Each event stores HMAC-SHA256(chain key, previous hash + canonical JSON of the event).
Editing a row breaks its own hash; deleting or inserting one breaks the link to the
next. The key lives in the secrets folder, so a database writer cannot re-seal a
forged chain. A sealed column's value (idhub/models/sealed.py: the CCCD, date of birth,
personal contact) is never written here in clear: its before/after holds
`{"sealed": <mark>}`, equal for equal values, so a reader still sees THAT it changed.
Appends are serialised: an advisory lock on PostgreSQL, the write lock
(BEGIN IMMEDIATE) on SQLite; the primary key is the chain position, so an appender
that skipped the lock fails instead of forking the chain.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from idhub.db import EncodedJSON, table_of
from idhub.models import AuditEvent, Base, utcnow
from idhub.models.sealed import audit_fields, keys_of

GENESIS_HASH = "0" * 64
_PG_LOCK_ID = 0x1D4B_A0D1  # arbitrary constant naming the audit chain lock
_HEAD_KEY = "idhub.audit_head"


@dataclass(frozen=True)
class Actor:
    """Who is acting, and from where. `type` is client, person, cli or system."""

    type: str
    id: str | None = None
    request_id: str | None = None
    source_ip: str | None = None


_PLAIN = (str, int, float, bool, type(None))


def jsonable(value: Any) -> Any:
    """The JSON form that is stored and hashed (dates as ISO strings, UUIDs as text)."""
    if isinstance(value, dict) and all(
        type(k) is str and type(v) in _PLAIN for k, v in value.items()
    ):  # already its JSON form (most snapshots): no round trip
        return dict(value)
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict, dict]:
    """Only the fields that changed, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


MARK = "sealed"  # the one key of a sealed value's stand-in: {"sealed": "<12 hex>"}


def is_mark(value: Any) -> bool:
    """A sealed value's stand-in in before/after (see `mark_sealed`)."""
    return isinstance(value, dict) and value.keys() == {MARK}


@functools.cache
def _sealed_fields(object_type: str) -> dict[str, str]:
    """The sealed attributes of the table an event is about (none for most)."""
    for mapper in Base.registry.mappers:
        if getattr(mapper.local_table, "name", None) == object_type:
            return audit_fields(mapper)
    return {}


def _plain_text(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True, ensure_ascii=False)


_Values = TypeVar("_Values", bound=Mapping[str, Any] | EncodedJSON | None)


def mark_sealed(session: Session, object_type: str, values: _Values) -> _Values:
    """`values` with each sealed field's value replaced by its mark; the rest as given.
    Done here, where every event passes, so no caller can put a sealed value in clear
    (snapshots keep plain values: their diff compares the same either way)."""
    fields = _sealed_fields(object_type)
    if not fields or values is None or isinstance(values, EncodedJSON):
        return values
    if not fields.keys() & values.keys():
        return values
    keys = keys_of(session.get_bind().dialect)
    marked = {
        key: value
        if key not in fields or value is None or is_mark(value)
        else {MARK: keys.mark(_plain_text(value), fields[key])}
        for key, value in values.items()
    }
    return cast(_Values, marked)


_SEALED = (
    "id",
    "at",
    "actor_type",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "before",
    "after",
    "reason",
    "request_id",
    "source_ip",
    "prev_hash",
)


_SEALED_ORDER = sorted(_SEALED)


# Built once: json.dumps with options builds a new encoder on every call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_SNAPSHOT = json.JSONEncoder(default=str, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_quote = json.encoder.encode_basestring


def encode(value: Mapping[str, Any] | EncodedJSON) -> EncodedJSON:
    """`value` in the canonical JSON form (dates as ISO strings, UUIDs as text); one
    already encoded is passed through."""
    if isinstance(value, EncodedJSON):
        return value
    try:
        return EncodedJSON(_SNAPSHOT.encode(value))
    except TypeError:  # keys of mixed types cannot be sorted before they are text
        return EncodedJSON(_CANONICAL.encode(jsonable(value)))


def _canonical(fields: Mapping[str, Any]) -> bytes:
    """The sorted, compact JSON of the sealed fields: json.dumps(…, sort_keys=True) of
    them, put together from parts so an `EncodedJSON` snapshot is not encoded again."""
    parts = []
    for name in _SEALED_ORDER:
        value = fields[name]
        if name == "at":
            text = '"' + value.astimezone(dt.UTC).isoformat(timespec="microseconds") + '"'
        elif value is None:
            text = "null"
        elif isinstance(value, EncodedJSON):
            text = value
        elif type(value) is str:
            text = _quote(value)
        else:
            text = _CANONICAL.encode(value)
        parts.append(f'"{name}":{text}')
    return ("{" + ",".join(parts) + "}").encode()


@dataclass(frozen=True)
class Change:
    """One event of a batch appended by `AuditLog.record_many`.

    `actor` and `reason` default to the batch's own when not given.
    """

    action: str
    object_type: str
    object_id: Any = None
    before: Mapping[str, Any] | EncodedJSON | None = None
    after: Mapping[str, Any] | EncodedJSON | None = None
    reason: str | None = None
    actor: Actor | None = None


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    broken_at: int | None = None
    problem: str | None = None


class AuditLog:
    def __init__(self, chain_key: str) -> None:
        self._key = chain_key.encode()

    def _seal(self, fields: Mapping[str, Any]) -> str:
        return hmac.new(self._key, _canonical(fields), hashlib.sha256).hexdigest()

    def _seal_event(self, event: AuditEvent) -> str:
        return self._seal({name: getattr(event, name) for name in _SEALED})

    def _head(self, session: Session) -> tuple[int, str]:
        """The last link, read once per transaction under the chain lock."""
        txn = session.get_transaction()
        cached = session.info.get(_HEAD_KEY)
        if cached is not None and cached[0] is txn:
            return cached[1], cached[2]
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})
        row = session.execute(
            select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
        ).first()
        return (row[0], row[1]) if row else (0, GENESIS_HASH)

    def record(
        self,
        session: Session,
        *,
        actor: Actor,
        action: str,
        object_type: str,
        object_id: Any = None,
        before: Mapping[str, Any] | None = None,
        after: Mapping[str, Any] | None = None,
        reason: str | None = None,
    ) -> AuditEvent:
        """Append one event to the chain, in the caller's transaction."""
        last_id, last_hash = self._head(session)
        before = mark_sealed(session, object_type, before)
        after = mark_sealed(session, object_type, after)
        event = AuditEvent(
            id=last_id + 1,
            at=utcnow(),
            actor_type=actor.type,
            actor_id=actor.id,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            before=jsonable(dict(before)) if before is not None else None,
            after=jsonable(dict(after)) if after is not None else None,
            reason=reason,
            request_id=actor.request_id,
            source_ip=actor.source_ip,
            prev_hash=last_hash,
        )
        event.hash = self._seal_event(event)
        session.add(event)
        session.info[_HEAD_KEY] = (session.get_transaction(), event.id, event.hash)
        return event

    def record_many(
        self, session: Session, *, actor: Actor, changes: Iterable[Change], reason: str | None
    ) -> int:
        """Append many events with one multi-row INSERT (a batch of HR changes).

        The same chain and seals as `record`, one after the other in the given order.
        """
        last_id, last_hash = self._head(session)
        now = utcnow()
        rows = []
        for change in changes:
            who = change.actor or actor
            before = mark_sealed(session, change.object_type, change.before)
            after = mark_sealed(session, change.object_type, change.after)
            last_id += 1
            row: dict[str, Any] = {
                "id": last_id,
                "at": now,
                "actor_type": who.type,
                "actor_id": who.id,
                "action": change.action,
                "object_type": change.object_type,
                "object_id": None if change.object_id is None else str(change.object_id),
                "before": encode(before) if before is not None else None,
                "after": encode(after) if after is not None else None,
                "reason": change.reason if change.reason is not None else reason,
                "request_id": who.request_id,
                "source_ip": who.source_ip,
                "prev_hash": last_hash,
            }
            row["hash"] = last_hash = self._seal(row)
            rows.append(row)
        if rows:
            session.execute(insert(table_of(AuditEvent)), rows)
            session.info[_HEAD_KEY] = (session.get_transaction(), last_id, last_hash)
        return len(rows)

    def verify(self, events: Iterable[AuditEvent]) -> VerifyResult:
        """Walk the chain in order; report the first event whose seal or link is wrong."""
        expected_prev, expected_id, checked = GENESIS_HASH, 1, 0
        for event in events:
            if event.id != expected_id:
                return VerifyResult(False, checked, event.id, f"event {expected_id} is missing")
            if event.prev_hash != expected_prev:
                return VerifyResult(False, checked, event.id, "link to the previous event broken")
            if not hmac.compare_digest(self._seal_event(event), event.hash):
                return VerifyResult(
                    False, checked, event.id, "event content does not match its hash"
                )
            expected_prev, expected_id, checked = event.hash, expected_id + 1, checked + 1
        return VerifyResult(True, checked)

    def verify_session(self, session: Session, batch: int = 5000) -> VerifyResult:
        def stream() -> Iterable[AuditEvent]:
            yield from session.scalars(
                select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch)
            )

        return self.verify(stream())
