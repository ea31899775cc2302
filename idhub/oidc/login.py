"""Checking a sign-in: who it is, the password, the lockout and the per-address throttle.

Every failure looks the same from outside ("sign-in failed"), whether the account is
unknown, locked, disabled or the password wrong; an unknown name still costs one argon2
verification, so timing tells nothing either. Failures count per account (lockout after
`lockout_threshold`) and per source address (`ip_failures_per_window` per `ip_window_s`),
in the database, so every web node sees the same counts.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import LoginThrottle, Person, PersonCredential, PersonStatus, utcnow
from idhub.oidc.claims import person_claims
from idhub.oidc.passwords import verify_password
from idhub.oidc.settings import SsoSettings
from idhub.services import current_hub
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
    snapshot = person_snapshots(session, [person], UnitDirectory.load(session), dt.date.today())
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


def throttled(session: Session, settings: SsoSettings, source: str | None) -> bool:
    if not source:
        return False
    row = session.get(LoginThrottle, source[:64])
    window = dt.timedelta(seconds=settings.ip_window_s)
    if row is None or row.window_start + window <= utcnow():
        return False
    return row.failures >= settings.ip_failures_per_window


def count_source_failure(session: Session, settings: SsoSettings, source: str | None) -> None:
    if not source:
        return
    now = utcnow()
    window = dt.timedelta(seconds=settings.ip_window_s)
    row = session.get(LoginThrottle, source[:64], with_for_update=True)
    if row is None:
        session.add(LoginThrottle(source=source[:64], window_start=now, failures=1))
    elif row.window_start + window <= now:
        row.window_start, row.failures = now, 1
    else:
        row.failures += 1


def is_locked(cred: PersonCredential) -> bool:
    return cred.locked_until is not None and cred.locked_until > utcnow()


def count_failure(session: Session, settings: SsoSettings, cred: PersonCredential) -> bool:
    """One more failure for the account; True when this one locked it."""
    cred.failed_logins = (cred.failed_logins or 0) + 1
    if cred.failed_logins >= settings.lockout_threshold:
        cred.locked_until = utcnow() + dt.timedelta(seconds=settings.lockout_s)
        cred.failed_logins = 0
        return True
    return False


def check_password(
    session: Session, settings: SsoSettings, login: str, password: str, source: str | None
) -> Check:
    """The first factor. Counts failures; never says which part was wrong."""
    if throttled(session, settings, source):
        return Check(Outcome.THROTTLED, reason="source throttled")
    person = find_person(session, login)
    if person is None:
        verify_password(settings, None, password)  # same cost as a real check
        count_source_failure(session, settings, source)
        return Check(Outcome.FAILED, reason="unknown account")
    cred = credential(session, person.id, lock=True)
    if is_locked(cred):
        verify_password(settings, None, password)
        count_source_failure(session, settings, source)
        return Check(Outcome.FAILED, person.id, "account locked")
    if not verify_password(settings, cred.password_hash, password):
        locked = count_failure(session, settings, cred)
        count_source_failure(session, settings, source)
        return Check(
            Outcome.FAILED, person.id, "wrong password" + (", now locked" if locked else "")
        )
    if not account_enabled(session, person):
        count_source_failure(session, settings, source)
        return Check(Outcome.FAILED, person.id, "account disabled")
    return Check(Outcome.OK, person.id)
