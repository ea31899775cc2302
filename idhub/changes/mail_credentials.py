"""Which passwords the directory accepts for a person (an LDAP bind, so IMAP and SMTP AUTH).

The directory's userPassword is a set the hub writes whole on the person's converge
(engine/targets/passwords.py): the `{SSHA512}` hashes of their live app passwords, then
`{ARGON2}` of the account password — unless the province requires app passwords
(`[mail] app_passwords_required`) and the person has a second factor: then only a
device's app password opens mail, never the account password alone.

Anything that changes the set marks it pending (`mark_mail_credentials`, the same mark
a new account password sets) with an urgent converge job, in the caller's transaction.
The setting reaches the worker through `hub_state` (`publish_requirement`, at start and
on every app-password page): when it changes, everyone with a second factor is marked.
A second factor is a TOTP enrolment today; a passkey counts once `second_factor_ids`
knows passkeys.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idhub.changes.outbox import converge_later
from idhub.db import among
from idhub.models import AppPassword, HubState, PersonCredential, utcnow

REQUIRED_KEY = "mail.app_passwords_required"


@dataclass(frozen=True)
class AppPasswordSettings:
    """`[mail]` keys of app passwords (config/idhub.toml)."""

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
    return set(
        session.scalars(
            select(PersonCredential.person_id).where(
                among(session, PersonCredential.person_id, ids),
                PersonCredential.totp_enrolled_at.is_not(None),
            )
        )
    )


def account_password_in_directory(session: Session, rows: Sequence[Any]) -> set[uuid.UUID]:
    """Of credential rows (person_id, password_hash, totp_enrolled_at), the people whose
    account password the directory should accept."""
    required = requirement_on(session)
    return {
        r.person_id
        for r in rows
        if r.password_hash is not None and not (required and r.totp_enrolled_at is not None)
    }


def app_hashes(session: Session, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[str, ...]]:
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
    marked = session.execute(
        update(PersonCredential)
        .where(among(session, PersonCredential.person_id, ids))
        .values(directory_password_pending_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
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


__all__ = [
    "AppPasswordSettings",
    "REQUIRED_KEY",
    "account_password_in_directory",
    "app_hashes",
    "mark_mail_credentials",
    "publish_requirement",
    "requirement_on",
    "second_factor_ids",
]
