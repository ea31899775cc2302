"""The demo's console accounts: a province administrator, a commune's HR officer (a real
commune of the demo, by a grant over it) and that commune's own API client (limited to
its subtree). Made once, kept (0600) beside the other demo secrets, shown in env.json."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from idhub.admin.grants import everywhere, grant_role
from idhub.changes.chain import Actor
from idhub.changes.context import HrContext
from idhub.models import AdminGrant, Assignment, OAuthClient, OrgUnit, Person, UnitType
from idhub.oidc.clients import create_client
from idhub.ops.devstack import handover
from idhub.services import Hub

FILE = "demo_console.json"
ACTOR = Actor("cli", "devstack")
UNIT_SCOPES = ["hr:read", "hr:write"]


def _commune(session: Session) -> OrgUnit | None:
    """The demo's commune with the most people posted today (a real one, not made up)."""
    today = dt.date.today()
    posted = func.count(Assignment.id)
    row = session.execute(
        select(OrgUnit, posted)
        .join(Assignment, Assignment.unit_id == OrgUnit.id)
        .where(OrgUnit.type == UnitType.COMMUNE_COMMITTEE, OrgUnit.status == "active")
        .where(or_(Assignment.end_date.is_(None), Assignment.end_date >= today))
        .group_by(OrgUnit.id)
        .order_by(posted.desc(), OrgUnit.code)
        .limit(1)
    ).first()
    return row[0] if row else None


def _person_of(session: Session, unit_id: uuid.UUID | None, taken: set[uuid.UUID]) -> Person | None:
    query = select(Person).where(Person.status == "active", Person.username.is_not(None))
    if unit_id is not None:
        query = query.where(
            Person.id.in_(
                select(Assignment.person_id).where(
                    Assignment.unit_id == unit_id, Assignment.end_date.is_(None)
                )
            )
        )
    if taken:
        query = query.where(Person.id.not_in(taken))
    return session.scalar(query.order_by(Person.created_at, Person.id).limit(1))


def _grant(hub: Hub, session: Session, person: Person, role: str, unit: uuid.UUID | None) -> None:
    held = session.scalar(
        select(AdminGrant.id).where(
            AdminGrant.person_id == person.id,
            AdminGrant.role == role,
            AdminGrant.revoked_at.is_(None),
            AdminGrant.unit_id.is_(None) if unit is None else AdminGrant.unit_id == unit,
        )
    )
    if held is not None:
        return
    ctx = HrContext(session=session, audit=hub.audit, actor=ACTOR, reason="demo console")
    grant_role(
        ctx,
        {
            "person_id": person.id,
            "role": role,
            "unit_id": unit,
            "valid_from": dt.date.today() - dt.timedelta(days=1),
            "valid_to": None,
            "reason": "demo console",
        },
        everywhere,
    )


def console_accounts(
    hub: Hub, secrets_dir: Path, hub_url: str, *, skip: set[str]
) -> dict[str, Any]:
    """`console_url`, `province_admin`, `unit_hr_officer`, `unit_client` for env.json
    (empty when the demo holds no commune). `skip`: usernames taken by other demo roles."""
    path = secrets_dir / FILE
    saved = handover.read_json(path)
    with hub.db.transaction() as session:
        if saved and session.scalar(
            select(OAuthClient.id).where(OAuthClient.client_id == saved["unit_client"]["client_id"])
        ):
            return {"console_url": hub_url + "/admin", **saved}
        commune = _commune(session)
        if commune is None:
            return {}
        taken = set(session.scalars(select(Person.id).where(Person.username.in_(skip))))
        officer = _person_of(session, commune.id, taken)
        admin = _person_of(session, None, taken | ({officer.id} if officer else set()))
        if officer is None or admin is None:
            return {}
        _grant(hub, session, admin, "province_admin", None)
        _grant(hub, session, officer, "hr_officer", commune.id)
        client = create_client(
            session,
            hub.keyring,
            hub.audit,
            ACTOR,
            name=f"Hệ thống nhân sự {commune.name}",
            scopes=UNIT_SCOPES,
            allowed_scopes=UNIT_SCOPES,
            subtree_unit_id=commune.id,
        )
        saved = {
            "province_admin": handover.sign_on(hub, session, admin),
            "unit_hr_officer": {
                **handover.sign_on(hub, session, officer),
                "unit_code": commune.code,
            },
            "unit_client": {
                "client_id": client.client_id,
                "client_secret": client.client_secret,
                "unit_code": commune.code,
            },
        }
    handover.write_private(path, saved)
    return {"console_url": hub_url + "/admin", **saved}
