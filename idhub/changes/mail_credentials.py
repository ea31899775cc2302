"""Which passwords open mail (IMAP, SMTP AUTH) for a person, as the hub decides it.

On the person's converge (engine/targets/app_passwords.py) the directory gets the
`{SSHA512}` hashes of their live app passwords, in their mail-credentials entry
(ou=mailauth, which Dovecot binds to first), and the flag `idhubMailAppPasswordsOnly`
on their own entry when the province requires app passwords (`[mail]
app_passwords_required`) and the person has a second factor: Dovecot's account-password
passdb then skips them, so the account password alone no longer opens mail.

Anything that changes these marks the person (`mark_mail_credentials`:
`person_credential.mail_credentials_pending_at`) with a converge job, in the caller's
transaction.
The setting reaches the worker through `hub_state` (`publish_requirement`, at start and
on every app-password page): when it changes, everyone with a second factor is marked.
A second factor is a TOTP enrolment or a passkey.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.changes.outbox import converge_later
from idhub.config import Settings
from idhub.db import among
from idhub.models import AppPassword, HubState, Passkey, PersonCredential, utcnow

REQUIRED_KEY = "mail.app_passwords_required"


@dataclass(frozen=True)
class AppPasswordSettings:
    """`[mail]` keys of app passwords (idhub/defaults/idhub.toml)."""

    SECTION: ClassVar[str] = "mail"
    # On: the account password alone no longer opens IMAP/SMTP (any LDAP bind) for a
    # person with a second factor; only their app passwords do.
    app_passwords_required: bool
    # Live app passwords a person may hold at once.
    app_passwords_max: int


def requirement_on(session: Session) -> bool:
    row = session.get(HubState, REQUIRED_KEY)
    return row is not None and row.value == "true"


def second_factor_ids(session: Session, person_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(person_ids)
    if not ids:
        return set()
    with_totp = session.scalars(
        select(PersonCredential.person_id).where(
            among(session, PersonCredential.person_id, ids),
            PersonCredential.totp_enrolled_at.is_not(None),
        )
    )
    with_passkey = session.scalars(
        select(Passkey.person_id).where(among(session, Passkey.person_id, ids)).distinct()
    )
    return set(with_totp) | set(with_passkey)


def app_hashes(
    session: Session, person_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, ...]]:
    """The directory values of each person's live app passwords, oldest first."""
    found: dict[uuid.UUID, tuple[str, ...]] = {}
    if not person_ids:
        return found
    rows = session.execute(
        select(AppPassword.person_id, AppPassword.hashes)
        .where(among(session, AppPassword.person_id, person_ids), AppPassword.revoked_at.is_(None))
        .order_by(AppPassword.created_at, AppPassword.id)
    )
    for person_id, hashes in rows:
        found[person_id] = found.get(person_id, ()) + tuple(hashes)
    return found


def sessions_to_end(session: Session, person_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """People with an app password the directory no longer accepts whose mail sessions
    have not been ended since (the mail target kicks them)."""
    if not person_ids:
        return set()
    return set(
        session.scalars(
            select(AppPassword.person_id).where(
                among(session, AppPassword.person_id, person_ids),
                AppPassword.directory_removed_at.is_not(None),
                AppPassword.sessions_ended_at.is_(None),
            )
        )
    )


def sessions_ended(session: Session, person_ids: Sequence[uuid.UUID]) -> None:
    if person_ids:
        session.execute(
            update(AppPassword)
            .where(
                among(session, AppPassword.person_id, person_ids),
                AppPassword.directory_removed_at.is_not(None),
                AppPassword.sessions_ended_at.is_(None),
            )
            .values(sessions_ended_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def mark_mail_credentials(
    session: Session,
    person_ids: Iterable[uuid.UUID],
    reason: str,
    request_id: str | None,
    *,
    urgent: bool,
) -> int:
    """The directory's set must be written again for these people (who have a credential
    row): marked pending, converge queued; how many were marked."""
    ids = sorted(set(person_ids))
    if not ids:
        return 0
    result = session.execute(
        update(PersonCredential)
        .where(among(session, PersonCredential.person_id, ids))
        .values(mail_credentials_pending_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    marked = getattr(result, "rowcount", 0)
    converge_later(session, ids, reason, request_id, urgent=urgent)
    return int(marked or 0)


def publish_requirement(session: Session, required: bool) -> list[uuid.UUID]:
    """Make the setting the worker's: when it changed, mark everyone with a second factor
    (their account password leaves or comes back). The people marked (caller audits)."""
    value = "true" if required else "false"
    row = session.get(HubState, REQUIRED_KEY, with_for_update=True)
    if row is not None and row.value == value:
        return []
    was_on = row is not None and row.value == "true"
    if row is None:
        session.add(HubState(key=REQUIRED_KEY, value=value))
    else:
        row.value = value
    if was_on == required:  # first publication of "off": nothing to rewrite
        return []
    people = list(
        session.scalars(
            select(PersonCredential.person_id).where(
                PersonCredential.totp_enrolled_at.is_not(None),
                PersonCredential.password_hash.is_not(None),
            )
        )
    )
    reason = "app passwords required for mail" if required else "app passwords no longer required"
    # Turning it on cuts access (the account password stops opening mail): urgent.
    mark_mail_credentials(session, people, reason, None, urgent=required)
    return people


def publish_setting(session: Session, audit: AuditLog, settings: Settings, actor: Actor) -> int:
    """`publish_requirement` from the hub's settings, audited when it changed anything
    (`idhub worker` at start, and the app-password pages); the people marked."""
    required = settings.section(AppPasswordSettings).app_passwords_required
    people = publish_requirement(session, required)
    if people:
        audit.record(
            session,
            actor=actor,
            action="app_password.requirement",
            object_type="setting",
            object_id=None,
            after={"app_passwords_required": required, "people": len(people)},
            reason="[mail] app_passwords_required changed",
        )
    return len(people)


__all__ = [
    "AppPasswordSettings",
    "REQUIRED_KEY",
    "app_hashes",
    "mark_mail_credentials",
    "publish_requirement",
    "publish_setting",
    "requirement_on",
    "second_factor_ids",
    "sessions_ended",
    "sessions_to_end",
]
