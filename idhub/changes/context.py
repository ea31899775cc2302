"""What every HR write carries: the transaction, who acts, why, and the audit log."""

from __future__ import annotations

import datetime as dt
import enum
import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.orm import Session

from idhub.admin_scope.scope import EVERYWHERE, Scope
from idhub.changes.chain import Actor, AuditLog, diff
from idhub.changes.outbox import CutCheck, converge_later
from provisioning.naming import DEFAULT_PATTERN, nfc

_AS_IS = frozenset({str, int, bool, type(None)})  # already plain JSON values
# Bookkeeping columns that say nothing about the HR fact itself.
_NOT_AUDITED = {
    "created_at",
    "updated_at",
    "version",
    "search_name",
    "owner_unit_id",
    "national_id_index",  # the blind index: the CCCD itself is the fact
}


@dataclass
class HrContext:
    session: Session
    audit: AuditLog
    actor: Actor
    reason: str | None = None
    naming_pattern: str = DEFAULT_PATTERN
    # The units the actor administers (delegated administration); the CLI: everywhere.
    scope: Scope = EVERYWHERE

    def converge(
        self,
        person_ids: Iterable[uuid.UUID],
        why: str,
        *,
        urgent: bool = False,
        cut_off: CutCheck | None = None,
    ) -> None:
        """Queue converge jobs for these people in this same transaction (the outbox);
        `urgent` / `cut_off` when the change cuts access or may (see converge_later)."""
        reason = f"{why} ({self.reason})" if self.reason else why
        converge_later(
            self.session,
            person_ids,
            reason,
            self.actor.request_id,
            urgent=urgent,
            cut_off=cut_off,
        )

    def record_create(self, obj: Any, action: str) -> None:
        """Audit a new row; its id and defaults are set by the caller, so no flush is needed."""
        self.audit.record(
            self.session,
            actor=self.actor,
            action=action,
            object_type=obj.__tablename__,
            object_id=obj.id,
            after=snapshot(obj),
            reason=self.reason,
        )

    def record_change(self, obj: Any, before: dict[str, Any], action: str) -> bool:
        """Audit the fields that changed; returns False (and records nothing) when none did."""
        old, new = diff(before, snapshot(obj))
        if not new:
            return False
        self.audit.record(
            self.session,
            actor=self.actor,
            action=action,
            object_type=obj.__tablename__,
            object_id=obj.id,
            before=old,
            after=new,
            reason=self.reason,
        )
        return True


def _plain(value: Any) -> Any:
    if type(value) in _AS_IS:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID | dt.date):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    return value


def snapshot(obj: Any) -> dict[str, Any]:
    """The HR fields of a row as plain JSON values, for before/after in the audit trail."""
    mapper = inspect(obj).mapper
    return {
        attr.key: _plain(getattr(obj, attr.key))
        for attr in mapper.column_attrs
        if attr.key not in _NOT_AUDITED
    }


def snapshot_values(model: Any, values: dict[str, Any]) -> dict[str, Any]:
    """`snapshot` for a row written from a dict (set-based writes) rather than an object."""
    return {key: _plain(values.get(key)) for key in _audited_keys(model)}


@functools.cache
def _audited_keys(model: Any) -> tuple[str, ...]:
    return tuple(a.key for a in inspect(model).column_attrs if a.key not in _NOT_AUDITED)


def apply_changes(obj: Any, changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        setattr(obj, key, value)


def nfc_fields(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """NFC-normalise the name fields of an input dict; every stored name goes through this."""
    return {k: nfc(v) if k in fields and isinstance(v, str) else v for k, v in data.items()}
