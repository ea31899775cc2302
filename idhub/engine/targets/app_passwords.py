"""People's app passwords (mail clients) on the directory's converge path.

Planned with the person (`with_mail_credentials`, called with the pending passwords):
a person who holds app passwords, or whose mail credentials are marked pending (an app
password made or revoked, the province's requirement changed, a new password or second
factor), gets

* `MailCredentials` on the plan: their mail-credentials entry (ou=mailauth), written
  after the person's own operations (`apply_mail_credentials`): the live hashes, the
  uid and status the entry has now — a disabled, renamed or deleted person's entry
  follows at once;
* when marked, the flag `idhubMailAppPasswordsOnly` on their entry (TRUE: the account
  password alone no longer opens mail), written whenever the mail credentials changed
  (so the converge changes the entry and its follow-up mail job flushes Dovecot's auth
  cache: a revoked password must not stay cached), and when a new account password or
  second factor changes the flag.

The mark is cleared with the record (`clear_mail_credentials`) unless a newer one was
set meanwhile; a failed write leaves it, and the job is retried like any converge.
"""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from connectors.base import (
    AccountKey,
    ConnectorError,
    Operation,
    OpKind,
    Result,
    SetsMailCredentials,
    TargetUnavailable,
)
from idhub.changes.mail_credentials import app_hashes, requirement_on, second_factor_ids
from idhub.db import among
from idhub.engine.plans import MailCredentials, PersonPlan, write_with_entry
from idhub.models import AppPassword, PersonCredential, utcnow
from provisioning.model import AccountState

FLAG = "idhubMailAppPasswordsOnly"


def with_mail_credentials(session: Session, plans: list[PersonPlan]) -> None:
    ids = [p.person_id for p in plans if p.failure is None]
    if not ids:
        return
    marks = {
        row.person_id: row
        for row in session.execute(
            select(
                PersonCredential.person_id,
                PersonCredential.mail_credentials_pending_at,
                PersonCredential.directory_password_pending_at,
            ).where(
                among(session, PersonCredential.person_id, ids),
                or_(
                    PersonCredential.mail_credentials_pending_at.is_not(None),
                    PersonCredential.directory_password_pending_at.is_not(None),
                ),
            )
        )
    }
    devices = app_hashes(session, ids)
    if not marks and not devices:
        return
    required = requirement_on(session)
    second = second_factor_ids(session, list(marks)) if required else set()
    for p in plans:
        mark = marks.get(p.person_id)
        values = devices.get(p.person_id, ())
        if p.failure is not None or (mark is None and not values):
            continue
        absent = p.desired.state is AccountState.ABSENT
        uid = next(iter(p.desired.attributes.get("uid", ())), None)
        p.mail_credentials = MailCredentials(
            None if absent else uid, p.desired.state is AccountState.ENABLED, values
        )
        if mark is None:
            continue
        p.mail_stamp = mark.mail_credentials_pending_at
        if absent:
            continue
        flag = {FLAG: ("TRUE",) if p.person_id in second else ()}
        if p.mail_stamp is None and _flag_of(p) == flag[FLAG]:
            continue  # only the account password changed (its own write flushes Dovecot)
        # a new entry needs the flag only when it is set
        write_with_entry(p, flag, "mail credentials set at the hub", on_create=bool(flag[FLAG]))


def _flag_of(p: PersonPlan) -> tuple[str, ...]:
    if p.actual is None:
        return ()
    found = {k.casefold(): v for k, v in p.actual.attributes.items()}
    return tuple(v.upper() for v in found.get(FLAG.casefold(), ()))


def apply_mail_credentials(connector: object, plans: list[PersonPlan]) -> None:
    """After the people's own operations: their mail-credentials entries. A server away
    fails the round (retried); another refusal fails that person's plan."""
    if not isinstance(connector, SetsMailCredentials):
        return
    for p in plans:
        c = p.mail_credentials
        if c is None or p.error is not None:
            continue
        key = AccountKey(str(p.person_id))
        try:
            connector.set_mail_credentials(key, uid=c.uid, active=c.active, values=c.values)
        except TargetUnavailable:
            raise
        except ConnectorError as exc:
            op = Operation(OpKind.MODIFY, key, reason="mail credentials (app passwords)")
            p.results.append(Result(op, error=exc))


def clear_mail_credentials(session: Session, plans: list[PersonPlan]) -> None:
    """The directory took these credentials: clear each mark unless a newer one was set,
    and note the revocations it took (the mail target then ends the sessions)."""
    now = utcnow()
    for p in plans:
        if p.mail_stamp is None:
            continue
        session.execute(
            update(AppPassword)
            .where(
                AppPassword.person_id == p.person_id,
                AppPassword.revoked_at <= p.mail_stamp,
                AppPassword.directory_removed_at.is_(None),
            )
            .values(directory_removed_at=now)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(PersonCredential)
            .where(
                PersonCredential.person_id == p.person_id,
                PersonCredential.mail_credentials_pending_at == p.mail_stamp,
            )
            .values(mail_credentials_pending_at=None)
            .execution_options(synchronize_session=False)
        )


__all__ = ["apply_mail_credentials", "clear_mail_credentials", "with_mail_credentials"]
