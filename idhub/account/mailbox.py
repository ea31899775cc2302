"""My mailbox (/account/mailbox): the person's address and aliases, the quota, how the
mailbox stands at the mail server, and the delegations (ủy quyền) given and received.

The address, aliases and quota are the policy's desired account (provisioning.policy,
the same values the directory target writes and Dovecot reads); the state is the mail
target's account link (engine/targets/mail.py records each converge); delegations are
identity/delegations.py's rows. The space used is asked of Dovecot when the page is
shown (the mail connector's `used_bytes`: `mailbox status vsize` over every folder of
the user; nothing when Dovecot is away).
Read-only: delegations are made by HR (the HR API), not by the person.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.account.pages import SECTIONS, Section, bp, render_section, require_person
from idhub.db import get_db
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import AccountLink, MailDelegation, Person
from idhub.oidc.i18n import t
from idhub.oidc.pages.account import local_time
from idhub.services import current_hub
from provisioning.model import AccountState
from provisioning.policy import desired_account

SECTIONS.append(Section("account.mailbox", "account.nav.mailbox"))


def human_bytes(value: int) -> str:
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover - unreachable


def mailbox_of(session: Session, person: Person, today: dt.date) -> SimpleNamespace:
    hub = current_hub()
    address, aliases, quota, enabled = None, [], None, False
    if person.username:
        snapshot = person_snapshots(session, [person], UnitDirectory.load(session), today)
        desired = desired_account(snapshot[person.id], hub.rules, base_dn=hub.connectors.base_dn)
        attrs = desired.attributes
        address = next(iter(attrs.get("mail", ())), None)
        aliases = sorted(set(attrs.get("idhubMailAlias", ())) - {address})
        raw = next(iter(attrs.get("idhubMailQuota", ())), None)
        quota = human_bytes(int(raw)) if raw and str(raw).isdigit() else None
        enabled = desired.state is AccountState.ENABLED
    link = session.scalar(
        select(AccountLink).where(AccountLink.person_id == person.id, AccountLink.target == "mail")
    )
    return SimpleNamespace(
        address=address,
        aliases=aliases,
        quota=quota,
        enabled=enabled,
        served=hub.connectors.mail_enabled,
        state=link.state.value if link is not None else None,
        converged_at=link.last_converged_at if link is not None else None,
        used=None,
    )


def delegations_of(
    session: Session, person: Person, today: dt.date
) -> tuple[list[SimpleNamespace], list[SimpleNamespace]]:
    """(given, received): delegations running today or later, with the other person."""
    rows = list(
        session.scalars(
            select(MailDelegation)
            .where(
                or_(MailDelegation.owner_id == person.id, MailDelegation.deputy_id == person.id),
                MailDelegation.end_date >= today,
            )
            .order_by(MailDelegation.start_date)
        )
    )
    others = {
        p.id: p
        for p in session.scalars(
            select(Person).where(
                Person.id.in_({r.owner_id for r in rows} | {r.deputy_id for r in rows})
            )
        )
    }
    given: list[SimpleNamespace] = []
    received: list[SimpleNamespace] = []
    for row in rows:
        mine = row.owner_id == person.id
        other = others.get(row.deputy_id if mine else row.owner_id)
        item = SimpleNamespace(
            who=other.full_name if other is not None else "?",
            start=row.start_date.strftime("%d/%m/%Y"),
            end=row.end_date.strftime("%d/%m/%Y"),
            active=row.active_on(today),
            reason=row.reason or "",
        )
        (given if mine else received).append(item)
    return given, received


@bp.get("/mailbox")
def mailbox() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    today = dt.date.today()
    session = get_db().session(write=False)
    try:
        person = session.get(Person, who.person.id)
        assert person is not None
        box = mailbox_of(session, person, today)
        given, received = delegations_of(session, person, today)
    finally:
        session.close()
    if box.served and box.state == "in_sync" and person.username:  # no session held
        used = current_hub().connectors.mailbox_used_bytes(person.username)
        box.used = human_bytes(used) if used is not None else None
    return render_section(
        "account_mailbox.html",
        title=t("account.title.mailbox"),
        box=box,
        given=given,
        received=received,
        local_time=local_time,
    )
