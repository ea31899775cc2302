"""Failed sign-ins in the audit trail: one event per account per window, with the counts.

Writing an audit event takes the chain's lock, which every HR write also takes; one event
per failure would let a flood of wrong passwords slow HR down. So a failure only adds to
its account's tally (unknown names share one), and the tally becomes one
`sso.login.failures` event when its window has closed — at the account's next failure,
at its next successful sign-in (before that event), or when the worker's clock sweeps
closed windows (`flush_closed`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import Counter

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.db import Database
from idhub.metrics import signed_in
from idhub.models import LoginFailureTally, utcnow
from idhub.oidc.settings import SsoSettings
from idhub.oidc.throttle import row_for_update

UNKNOWN = "unknown"
MAX_SOURCES = 10  # addresses named in one event
THROTTLED_FLUSH_S = 5.0  # refused-at-the-door counts reach the tally this often


class ThrottledCounts:
    """Sign-ins refused by the per-address throttle, counted in this process and added
    to the tally in one write every few seconds: a sustained flood is mostly these, and
    one database write each would make the flood's cost a write per try again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[uuid.UUID | None, str]] = Counter()
        self._sources: list[str] = []
        self._since = time.monotonic()

    def add(self, person_id: uuid.UUID | None, step: str, source: str | None) -> bool:
        """Count one; True when it is time to write them (`take`)."""
        with self._lock:
            self._counts[(person_id, step)] += 1
            if source and len(self._sources) < MAX_SOURCES and source not in self._sources:
                self._sources.append(source)
            return time.monotonic() - self._since >= THROTTLED_FLUSH_S

    def take(self) -> tuple[Counter[tuple[uuid.UUID | None, str]], list[str]]:
        with self._lock:
            counts, sources = self._counts, self._sources
            self._counts, self._sources = Counter(), []
            self._since = time.monotonic()
            return counts, sources


def throttled_counts() -> ThrottledCounts:
    """This app's counts (one per app: tests run several apps in one process)."""
    return current_app.extensions.setdefault("idhub.oidc.throttled", ThrottledCounts())


def _emit(session: Session, audit: AuditLog, actor: Actor, row: LoginFailureTally) -> None:
    audit.record(
        session,
        actor=actor,
        action="sso.login.failures",
        object_type="person" if row.person_id else "sso",
        object_id=row.person_id if row.person_id else UNKNOWN,
        after={
            "failures": row.failures,
            "throttled": row.throttled,
            "locks": row.locks,
            "steps": dict(row.steps or {}),
            "sources": list(row.sources or []),
            "from": row.window_start,
            "to": utcnow(),
        },
    )


def _reset(row: LoginFailureTally, now: dt.datetime) -> None:
    row.window_start, row.failures, row.throttled, row.locks = now, 0, 0, 0
    row.steps, row.sources = {}, []


def _pending(row: LoginFailureTally) -> bool:
    return bool(row.failures or row.throttled or row.locks)


def note_failure(
    session: Session,
    settings: SsoSettings,
    audit: AuditLog,
    actor: Actor,
    *,
    person_id: uuid.UUID | None,
    step: str,
    source: str | None,
    throttled: bool = False,
    locked: bool = False,
    refused_locked: bool = False,
) -> None:
    """Add one failure to its account's tally; the closed window before it is audited.
    The metrics count it as locked when this failure locked the account (`locked`) or
    the try was refused because it already was (`refused_locked`)."""
    signed_in(
        "throttled" if throttled else "locked" if locked or refused_locked else "failed", session
    )
    _add(
        session,
        settings,
        audit,
        actor,
        person_id,
        step,
        [source] if source else [],
        failures=0 if throttled else 1,
        throttled=int(throttled),
        locks=int(locked),
    )


def _add(
    session: Session,
    settings: SsoSettings,
    audit: AuditLog,
    actor: Actor,
    person_id: uuid.UUID | None,
    step: str,
    sources: list[str],
    *,
    failures: int = 0,
    throttled: int = 0,
    locks: int = 0,
) -> None:
    now = utcnow()
    row = row_for_update(
        session,
        LoginFailureTally,
        {"subject": str(person_id) if person_id else UNKNOWN},
        person_id=person_id,
        window_start=now,
        failures=0,
        throttled=0,
        locks=0,
        steps={},
        sources=[],
    )
    if row.window_start + dt.timedelta(seconds=settings.failure_audit_window_s) <= now:
        if _pending(row):
            _emit(session, audit, actor, row)
        _reset(row, now)
    row.failures += failures
    row.throttled += throttled
    row.locks += locks
    steps = dict(row.steps or {})
    steps[step] = steps.get(step, 0) + failures + throttled
    row.steps = steps
    known = list(row.sources or [])
    for source in sources:
        if source not in known and len(known) < MAX_SOURCES:
            known.append(source)
    row.sources = known


def note_throttled(
    db: Database,
    settings: SsoSettings,
    audit: AuditLog,
    actor: Actor,
    *,
    person_id: uuid.UUID | None,
    step: str,
    source: str | None,
) -> None:
    """A try refused by the per-address throttle: counted in memory, written with the
    others every THROTTLED_FLUSH_S (no database write per refused try)."""
    signed_in("throttled")
    counts_here = throttled_counts()
    if not counts_here.add(person_id, step, source):
        return
    counts, sources = counts_here.take()
    with db.transaction() as session:
        for (who, which), count in counts.items():
            _add(session, settings, audit, actor, who, which, sources, throttled=count)


def flush_person(session: Session, audit: AuditLog, actor: Actor, person_id: uuid.UUID) -> None:
    """Audit the person's pending failures now (before their next event, e.g. a sign-in)."""
    row = session.get(LoginFailureTally, str(person_id), with_for_update=True)
    if row is not None and _pending(row):
        _emit(session, audit, actor, row)
        session.delete(row)


def flush_closed(db: Database, audit: AuditLog, settings: SsoSettings, actor: Actor) -> int:
    """Audit every tally whose window has closed; how many events were written."""
    cutoff = utcnow() - dt.timedelta(seconds=settings.failure_audit_window_s)
    with db.reading() as session:
        subjects = list(
            session.scalars(
                select(LoginFailureTally.subject).where(LoginFailureTally.window_start <= cutoff)
            )
        )
    written = 0
    for subject in subjects:
        with db.transaction() as session:
            row = session.get(LoginFailureTally, subject, with_for_update=True)
            if row is None or row.window_start > cutoff:
                continue  # flushed or restarted meanwhile
            if _pending(row):
                _emit(session, audit, actor, row)
                written += 1
            session.delete(row)
    return written
