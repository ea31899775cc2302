"""A person's page: HR record, posts with their history (reorganisations and decisions),
accounts on each target, groups and mailbox as converge would make them, seats, mail
delegations, sessions and apps, administrative roles, and the person's audit events.

Outside the viewer's scope the page answers 404, as the API does. Showing the CCCD, date
of birth or personal contact is noted as a personal-data read (identity/personal.py)."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.admin_scope import visible
from idhub.admin_scope.grants import held_by_person
from idhub.console.frame import (
    bp,
    page_number,
    render_console,
    render_console_message,
    require,
)
from idhub.db import get_db
from idhub.engine.accounts import account_states
from idhub.engine.targets.mail_facts import with_mail_facts
from idhub.identity.personal import PERSONAL_FIELDS, note_personal_read
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import (
    Assignment,
    AuditEvent,
    Consent,
    MailDelegation,
    OAuthClient,
    OrgUnit,
    Person,
    Position,
    Seat,
    SsoSession,
    utcnow,
)
from idhub.reorg.lineage import of_people
from idhub.services import current_hub
from provisioning.policy import desired_account

READ = ("hr:read", "hr:write", "admin")
AUDIT_PAGE = 25


def desired(session: Session, person: Person, today: dt.date) -> SimpleNamespace:
    """Groups and mailbox as the policy makes them from HR today (what converge writes)."""
    hub = current_hub()
    snapshots = person_snapshots(session, [person], UnitDirectory.load(session), today)
    snapshots = with_mail_facts(session, snapshots, today)
    account = desired_account(snapshots[person.id], hub.rules, base_dn=hub.connectors.base_dn)
    attrs = account.attributes
    address = next(iter(attrs.get("mail", ())), None)
    quota = next(iter(attrs.get("idhubMailQuota", ())), None)
    return SimpleNamespace(
        state=account.state.value,
        dn=account.name,
        groups=sorted(account.groups),
        address=address,
        aliases=sorted(set(attrs.get("idhubMailAlias", ())) - {address}),
        quota=int(quota) if quota and str(quota).isdigit() else None,
        served=hub.connectors.mail_enabled,
    )


def _people_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    return {p.id: p.full_name for p in session.scalars(select(Person).where(Person.id.in_(ids)))}


def _seats(session: Session, person_id: uuid.UUID, today: dt.date) -> list[Any]:
    """The seat mailboxes of the posts this person holds today."""
    held = session.execute(
        select(Assignment.unit_id, Position.code)
        .join(Position, Position.id == Assignment.position_id)
        .where(Assignment.person_id == person_id, Assignment.start_date <= today)
        .where(or_(Assignment.end_date.is_(None), Assignment.end_date >= today))
    ).all()
    if not held:
        return []
    seats = session.execute(
        select(Seat, OrgUnit.name)
        .join(OrgUnit, OrgUnit.id == Seat.unit_id)
        .where(Seat.unit_id.in_({u for u, _ in held}))
    ).all()
    pairs = set(held)
    return [(seat, name) for seat, name in seats if (seat.unit_id, seat.position_code) in pairs]


def _audit(session: Session, person_id: uuid.UUID, post_ids: list[str], page: int) -> Any:
    about = AuditEvent.object_id.in_([str(person_id), *post_ids])
    total = session.scalar(select(func.count()).where(about)) or 0
    rows = list(
        session.scalars(
            select(AuditEvent)
            .where(about)
            .order_by(AuditEvent.id.desc())
            .limit(AUDIT_PAGE)
            .offset((page - 1) * AUDIT_PAGE)
        )
    )
    return SimpleNamespace(rows=rows, total=total, page=page, pages=max(1, -(-total // AUDIT_PAGE)))


@bp.get("/people/<uuid:person_id>")
def person(person_id: uuid.UUID) -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    scope = admin.scope(*READ)
    today = dt.date.today()
    with get_db().reading() as session:
        row = session.get(Person, person_id)
        if row is None or not visible.has_person(session, scope, person_id):
            return render_console_message("console.error.not_found", 404)
        history = of_people(session, [person_id])[person_id]
        plan = desired(session, row, today)
        used = (
            current_hub().connectors.mailbox_used_bytes(row.username)
            if plan.served and row.username
            else None
        )
        delegations = list(
            session.scalars(
                select(MailDelegation)
                .where(
                    or_(
                        MailDelegation.owner_id == person_id,
                        MailDelegation.deputy_id == person_id,
                    )
                )
                .order_by(MailDelegation.start_date.desc())
            )
        )
        names = _people_names(
            session, {d.owner_id for d in delegations} | {d.deputy_id for d in delegations}
        )
        sessions = list(
            session.scalars(
                select(SsoSession)
                .where(
                    SsoSession.person_id == person_id,
                    SsoSession.ended_at.is_(None),
                    SsoSession.expires_at > utcnow(),
                )
                .order_by(SsoSession.last_seen_at.desc())
            )
        )
        apps = session.execute(
            select(Consent, OAuthClient.name)
            .join(OAuthClient, OAuthClient.client_id == Consent.client_id)
            .where(Consent.person_id == person_id)
            .order_by(OAuthClient.name)
        ).all()
        roles = held_by_person(session, person_id, current_hub().rules)
        role_units = {
            u.id: u
            for u in session.scalars(
                select(OrgUnit).where(OrgUnit.id.in_({h.unit_id for h in roles if h.unit_id}))
            )
        }
        context = dict(
            person=row,
            posts=list(reversed(history["posts"])),
            reorganisations=history["reorganisations"],
            accounts=account_states(session, person_id),
            plan=plan,
            used=used,
            seats=_seats(session, person_id, today),
            delegations=delegations,
            names=names,
            sessions=sessions,
            apps=apps,
            roles=roles,
            role_units=role_units,
            audit=_audit(
                session, person_id, [p["assignment_id"] for p in history["posts"]], page_number()
            ),
            today=today,
        )
        note_personal_read(admin.actor(), [person_id], PERSONAL_FIELDS, "console")
        return render_console("console_person.html", title=row.full_name, **context)
