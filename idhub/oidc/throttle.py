"""Counting failed sign-ins: per source address, per account and source, per account's code.

* A source address (an IPv6 /64) with `ip_failures_per_window` failures in `ip_window_s`
  is refused before any password is checked (429).
* Wrong passwords lock one *account and source* pair (`lockout_threshold`), not the
  account: whoever knows a username can no longer lock its owner out from elsewhere.
  Each lock in a row lasts twice the one before (`lockout_s` … `lockout_max_s`); a
  success from that source ends the run. An unknown name locks the same way (keyed by
  a hash of the name), so a lock tells nothing about whether the account exists.
* Wrong second-factor codes count per account, from any source
  (`code_lockout_threshold`): only someone who had the password reaches that step.

The counts live in the database, so every web node sees the same ones.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.db import table_of, upsert
from idhub.models import LoginLock, LoginThrottle, PersonCredential, utcnow
from idhub.oidc.settings import SsoSettings


def subject_of(person_id: uuid.UUID | None, login: str) -> str:
    """The key a lock counts under: the person, or a hash of a name nobody has."""
    if person_id is not None:
        return f"p:{person_id}"
    return "n:" + hashlib.sha256(login.strip().lower().encode()).hexdigest()[:40]


def row_for_update(session: Session, model: Any, key: dict[str, Any], **defaults: Any) -> Any:
    """The row with this key, locked for this transaction; made first if missing (two
    nodes making it at once do not collide: INSERT … ON CONFLICT DO NOTHING)."""
    session.execute(
        upsert(session, table_of(model)).values(**key, **defaults).on_conflict_do_nothing()
    )
    query = select(model).filter_by(**key).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one()


# ------------------------------------------------------------------ per source address


def source_throttled(session: Session, settings: SsoSettings, source: str | None) -> bool:
    if not source:
        return False
    row = session.get(LoginThrottle, source)
    window = dt.timedelta(seconds=settings.ip_window_s)
    if row is None or row.window_start + window <= utcnow():
        return False
    return row.failures >= settings.ip_failures_per_window


def count_source_failure(session: Session, settings: SsoSettings, source: str | None) -> None:
    if not source:
        return
    now = utcnow()
    row = row_for_update(session, LoginThrottle, {"source": source}, window_start=now, failures=0)
    if row.window_start + dt.timedelta(seconds=settings.ip_window_s) <= now:
        row.window_start, row.failures = now, 0
    row.failures += 1


# ------------------------------------------------------------------ per account and source


def pair_state(session: Session, subject: str, source: str | None) -> tuple[bool, bool]:
    """(locked now, has a run of failures a success should end)."""
    row = session.get(LoginLock, (subject, source or "-"))
    if row is None:
        return False, False
    locked = row.locked_until is not None and row.locked_until > utcnow()
    return locked, bool(row.failures or row.locks)


def count_pair_failure(
    session: Session,
    settings: SsoSettings,
    subject: str,
    source: str | None,
    person_id: uuid.UUID | None,
) -> bool:
    """One more wrong password for (subject, source); True when this one locked the pair."""
    now = utcnow()
    row = row_for_update(
        session,
        LoginLock,
        {"subject": subject, "source": source or "-"},
        person_id=person_id,
        failures=0,
        locks=0,
        total_failures=0,
        first_failure_at=now,
        last_failure_at=now,
    )
    if row.last_failure_at + dt.timedelta(seconds=settings.lockout_max_s) <= now:
        # Quiet for a long time: a new run, and the person's view starts afresh.
        row.failures, row.locks, row.total_failures, row.first_failure_at = 0, 0, 0, now
    row.failures += 1
    row.total_failures += 1
    row.last_failure_at = now
    if row.failures < settings.lockout_threshold:
        return False
    seconds = min(settings.lockout_s * 2 ** min(row.locks, 20), settings.lockout_max_s)
    row.locked_until = now + dt.timedelta(seconds=seconds)
    row.last_locked_at = now
    row.locks += 1
    row.failures = 0
    return True


def pair_succeeded(session: Session, subject: str, source: str | None) -> None:
    """The right password from this source: its run of failures ends (the totals stay,
    for the person's own view)."""
    row = session.get(LoginLock, (subject, source or "-"), with_for_update=True)
    if row is not None and (row.failures or row.locks):
        row.failures, row.locks, row.locked_until = 0, 0, None


# ------------------------------------------------------------------ the code step, per account


def code_locked(cred: PersonCredential) -> bool:
    return cred.locked_until is not None and cred.locked_until > utcnow()


def count_code_failure(session: Session, settings: SsoSettings, cred: PersonCredential) -> bool:
    """One more wrong code for the account; True when this one locked its code step."""
    cred.failed_logins = (cred.failed_logins or 0) + 1
    if cred.failed_logins >= settings.code_lockout_threshold:
        cred.locked_until = utcnow() + dt.timedelta(seconds=settings.lockout_s)
        cred.failed_logins = 0
        return True
    return False
