"""Checking a sign-in's password: who it is, the password, the locks (oidc/throttle.py).

Every failure looks the same from outside ("sign-in failed"), whether the account is
unknown, locked, disabled or the password wrong; an unknown name still costs one argon2
verification, so timing tells nothing either. Failures count per source address and per
account and source (`throttle`), and go into the account's audit tally (`failures`).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.db import Database
from idhub.identity.snapshots import person_snapshots
from idhub.models import Person, PersonCredential, PersonStatus
from idhub.oidc.claims import person_claims, units_of
from idhub.oidc.failures import note_failure, note_throttled
from idhub.oidc.passwords import verify_password
from idhub.oidc.settings import SsoSettings
from idhub.oidc.throttle import (
    count_pair_failure,
    count_source_failure,
    pair_state,
    pair_succeeded,
    source_throttled,
    subject_of,
)
from idhub.services import current_hub
from idhub.web.proxies import throttle_key
from provisioning.model import AccountState
from provisioning.naming import nfc
from provisioning.policy import desired_account


class Outcome(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"  # wrong name or password, locked, disabled: one answer for all
    THROTTLED = "throttled"  # too many failures from this address


@dataclass(frozen=True)
class Check:
    outcome: Outcome
    person_id: uuid.UUID | None = None
    reason: str = ""  # for the audit trail only, never shown


def find_person(session: Session, login: str) -> Person | None:
    """By username (uid), or by the official mail address the hub issued."""
    login = nfc(login).lower()
    if not login or len(login) > 254:
        return None
    username = login.split("@", 1)[0] if "@" in login else login
    person = session.scalar(select(Person).where(Person.username == username))
    if person is None or "@" not in login:
        return person
    return person if person_claims(session, person, {"email"}).get("email") == login else None


def account_enabled(session: Session, person: Person) -> bool:
    """HR says the person may sign in: status active and an account enabled by policy."""
    if person.status is not PersonStatus.ACTIVE or not person.username:
        return False
    snapshot = person_snapshots(session, [person], units_of(session, person.id), dt.date.today())
    hub = current_hub()
    desired = desired_account(snapshot[person.id], hub.rules, base_dn=hub.connectors.base_dn)
    return desired.state is AccountState.ENABLED


def credential(session: Session, person_id: uuid.UUID, *, lock: bool = False) -> PersonCredential:
    query = select(PersonCredential).where(PersonCredential.person_id == person_id)
    if lock:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        row = PersonCredential(person_id=person_id, failed_logins=0)
        session.add(row)
        session.flush()
    return row


def check_password(
    db: Database,
    settings: SsoSettings,
    audit: AuditLog,
    actor: Actor,
    login: str,
    password: str,
    address: str | None,
) -> Check:
    """The first factor. Never says which part was wrong; counts failures.

    Three short steps, so no lock is held while argon2 works (~0.1 s at production
    cost; on SQLite a write transaction would hold the whole database): read who it is and
    the locks; verify the password; then one short write of the counts."""
    source = throttle_key(address)
    with db.reading() as session:
        if source_throttled(session, settings, source):
            person_id, stored, locked, run, throttled = None, None, False, False, True
        else:
            person = find_person(session, login)
            person_id = person.id if person is not None else None
            row = session.get(PersonCredential, person_id) if person_id else None
            stored = row.password_hash if row is not None else None
            locked, run = pair_state(session, subject_of(person_id, login), source)
            throttled = False
    if throttled:  # refused at the door: counted in memory, no write per try
        note_throttled(db, settings, audit, actor, person_id=None, step="password", source=source)
        return Check(Outcome.THROTTLED, None, "source throttled")
    if locked:  # no hashing: a locked pair (known name or not) answers at once
        return _failed(db, settings, audit, actor, person_id, login, source, "locked here")
    ok = verify_password(settings, stored, password)  # an unknown name: the same cost
    if not ok:
        return _failed(db, settings, audit, actor, person_id, login, source, "wrong password")
    assert person_id is not None
    with db.reading() as session:
        person = session.get(Person, person_id)
        enabled = person is not None and account_enabled(session, person)
    if not enabled:
        return _failed(db, settings, audit, actor, person_id, login, source, "account disabled")
    if run:  # a write only when this source had failures to forget
        with db.transaction() as session:
            pair_succeeded(session, subject_of(person_id, login), source)
    return Check(Outcome.OK, person_id)


def _failed(
    db: Database,
    settings: SsoSettings,
    audit: AuditLog,
    actor: Actor,
    person_id: uuid.UUID | None,
    login: str,
    source: str | None,
    reason: str,
) -> Check:
    """Count the failure (source, pair, the account's audit tally) in one short write."""
    with db.transaction() as session:
        locked = False
        count_source_failure(session, settings, source)
        if reason == "wrong password":
            subject = subject_of(person_id, login)
            locked = count_pair_failure(session, settings, subject, source, person_id)
        note_failure(
            session,
            settings,
            audit,
            actor,
            person_id=person_id,
            step="password",
            source=source,
            locked=locked,
            refused_locked=reason == "locked here",
        )
    return Check(Outcome.FAILED, person_id, reason + (", now locked here" if locked else ""))
