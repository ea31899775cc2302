"""People's passwords on the directory's converge path.

The sign-on sets a password at the hub (argon2id) and marks the directory's copy as
pending (`person_credential.directory_password_pending_at`) with a converge job, in the
same transaction. The directory target then writes `{ARGON2}<phc>` with the person's
other operations, so a failed write is retried like any converge (and parked, visible,
after the last attempt), and the mark is cleared only once the directory took the value
written: a newer password set meanwhile stays pending. slapd verifies the hash, so the
old password stops opening an LDAP bind (and IMAP) as soon as the converge lands.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idhub.db import among
from idhub.engine.plans import PersonPlan, write_with_entry
from idhub.engine.targets.app_passwords import clear_mail_credentials, with_mail_credentials
from idhub.models import PersonCredential
from provisioning.model import AccountState

ATTRIBUTE = "userPassword"
SCHEME = "{ARGON2}"


def with_pending_passwords(session: Session, plans: list[PersonPlan]) -> None:
    """Add the pending password of each planned person to their operations, and their
    mail credentials (app passwords: targets/app_passwords.py)."""
    ids = [p.person_id for p in plans if p.failure is None]
    if not ids:
        return
    with_mail_credentials(session, plans)
    pending = {
        row.person_id: row
        for row in session.execute(
            select(
                PersonCredential.person_id,
                PersonCredential.password_hash,
                PersonCredential.directory_password_pending_at,
            ).where(
                among(session, PersonCredential.person_id, ids),
                PersonCredential.directory_password_pending_at.is_not(None),
                PersonCredential.password_hash.is_not(None),
            )
        )
    }
    for p in plans:
        row = pending.get(p.person_id)
        if row is None or p.failure is not None or p.desired.state is AccountState.ABSENT:
            continue
        value = {ATTRIBUTE: (SCHEME + row.password_hash,)}
        if not write_with_entry(p, value, "password set at the hub"):
            continue  # no entry and none made: the mark waits for the entry's converge
        p.password_stamp = row.directory_password_pending_at


def clear_pending_passwords(session: Session, plans: list[PersonPlan]) -> None:
    """The directory took these passwords: clear each mark unless a newer one was set."""
    clear_mail_credentials(session, plans)
    for p in plans:
        if p.password_stamp is None:
            continue
        session.execute(
            update(PersonCredential)
            .where(
                PersonCredential.person_id == p.person_id,
                PersonCredential.directory_password_pending_at == p.password_stamp,
            )
            .values(directory_password_pending_at=None)
            .execution_options(synchronize_session=False)
        )


__all__ = ["clear_pending_passwords", "with_pending_passwords"]
