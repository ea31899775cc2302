"""My personal data (/account/personal-data): who saw it (the personal-read log, most
recent first, paged) and "download my data" (Nghị định 13/2023/NĐ-CP): the person's HR
record, posts and work history, accounts, sessions, apps and the read log, as a JWS
signed with the hub's OpenID signing key (published at /oauth/jwks; see
docs/personal-data.md for how to verify it). The download is audited
(`person.data_export`); only the signed-in person's own data is ever exported."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from flask import request
from joserfc import jws
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.account.pages import SECTIONS, Section, bp, render_section, require_person
from idhub.db import get_db
from idhub.identity.personal import Read, count_reads, reads_of
from idhub.models import (
    AccountLink,
    Assignment,
    Consent,
    OAuthClient,
    OrgUnit,
    Person,
    Position,
    SsoSession,
    utcnow,
)
from idhub.oidc.i18n import t
from idhub.oidc.keys import ALG, signing_key
from idhub.oidc.pages.account import local_time
from idhub.oidc.pages.common import actor, check_csrf, error_page
from idhub.services import current_hub

SECTIONS.append(Section("account.personal_data", "account.nav.personal_data"))

PAGE = 20
# The JWS header's `typ` (RFC 8725 §3.11): not an ID token, whatever key signed it.
TYP = "idhub-personal-data+jwt"


@bp.get("/personal-data")
def personal_data() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    session = get_db().session(write=False)
    try:
        total = count_reads(session, who.person.id)
        reads = reads_of(session, who.person.id, limit=PAGE, offset=(page - 1) * PAGE)
        shown = _labelled(session, reads)
    finally:
        session.close()
    return render_section(
        "account_personal_data.html",
        title=t("account.title.personal_data"),
        person=who.person,
        reads=shown,
        page=page,
        more=page * PAGE < total,
        total=total,
        local_time=local_time,
    )


@bp.post("/personal-data/export")
def export() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    hub = current_hub()
    person_id = who.person.id  # only ever the signed-in person's own data
    kid, key = signing_key(hub.db, hub.keyring, hub.audit)
    now = utcnow()
    with hub.db.transaction() as session:
        payload = {
            "iss": request.host_url.rstrip("/"),
            "sub": str(person_id),
            "iat": int(now.timestamp()),
            "jti": str(uuid.uuid4()),
            **collect(session, person_id),
        }
        hub.audit.record(
            session,
            actor=actor(person_id),
            action="person.data_export",
            object_type="person",
            object_id=person_id,
            after={"jti": payload["jti"], "kid": kid},
        )
    body = json.dumps(payload, ensure_ascii=False, default=str).encode()
    document = jws.serialize_compact({"alg": ALG, "kid": kid, "typ": TYP}, body, key)
    filename = f"idhub-personal-data-{now:%Y%m%d}.jws"
    return Response(
        document,
        200,
        {
            "Content-Type": "application/jose",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _label(key: str, fallback: str) -> str:
    text = t(key)
    return fallback if text == key else text


def _labelled(session: Session, reads: list[Read]) -> list[dict[str, Any]]:
    """Each read with who (a person's name, an app's name), the door and fields in words."""
    people = {uuid.UUID(r.actor_id) for r in reads if r.actor_type == "person" and r.actor_id}
    clients = {r.actor_id for r in reads if r.actor_type == "client" and r.actor_id}
    names: dict[str, str] = {}
    if people:
        for person in session.scalars(select(Person).where(Person.id.in_(people))):
            names[str(person.id)] = person.full_name
    if clients:
        for client_id, name in session.execute(
            select(OAuthClient.client_id, OAuthClient.name).where(
                OAuthClient.client_id.in_(clients)
            )
        ):
            names[client_id] = name
    return [
        {
            "at": r.at,
            "who": " · ".join(
                x
                for x in (
                    _label(f"account.personal_data.actor.{r.actor_type}", r.actor_type),
                    names.get(r.actor_id or "", r.actor_id or ""),
                )
                if x
            ),
            "door": r.door,
            "door_label": _label(f"account.personal_data.door.{r.door}", r.door),
            "fields_label": ", ".join(
                _label(f"account.personal_data.fieldname.{f}", f) for f in r.fields
            ),
        }
        for r in reads
    ]


def collect(session: Session, person_id: uuid.UUID) -> dict[str, Any]:
    """Everything the hub keeps about the person (no secrets: no password or TOTP)."""
    person = session.get(Person, person_id)
    assert person is not None  # signed in
    posts = session.execute(
        select(Assignment, OrgUnit.name, Position.name)
        .join(OrgUnit, OrgUnit.id == Assignment.unit_id)
        .join(Position, Position.id == Assignment.position_id)
        .where(Assignment.person_id == person_id)
        .order_by(Assignment.start_date.desc())
    )
    return {
        "hr_record": {
            "id": str(person.id),
            "national_id": person.national_id,
            "civil_servant_code": person.civil_servant_code,
            "family_name": person.family_name,
            "middle_name": person.middle_name,
            "given_name": person.given_name,
            "username": person.username,
            "date_of_birth": _iso(person.date_of_birth),
            "personal_email": person.personal_email,
            "personal_phone": person.personal_phone,
            "status": person.status.value,
            "created_at": _iso(person.created_at),
        },
        "posts": [
            {
                "unit": unit,
                "position": position,
                "kind": a.kind.value,
                "start_date": _iso(a.start_date),
                "end_date": _iso(a.end_date),
                "decision_ref": a.decision_ref,
                "end_reason": a.end_reason,
            }
            for a, unit, position in posts
        ],
        "accounts": [
            {"target": a.target, "name": a.name, "state": a.state.value, "enabled": a.enabled}
            for a in session.scalars(select(AccountLink).where(AccountLink.person_id == person_id))
        ],
        "sessions": [
            {
                "created_at": _iso(s.created_at),
                "ended_at": _iso(s.ended_at),
                "source_ip": s.source_ip,
                "user_agent": s.user_agent,
            }
            for s in session.scalars(
                select(SsoSession)
                .where(SsoSession.person_id == person_id)
                .order_by(SsoSession.created_at.desc())
            )
        ],
        "apps": [
            {
                "client_id": c.client_id,
                "name": name,
                "scope": c.scope,
                "granted_at": _iso(c.granted_at),
            }
            for c, name in session.execute(
                select(Consent, OAuthClient.name)
                .join(OAuthClient, OAuthClient.client_id == Consent.client_id)
                .where(Consent.person_id == person_id)
            )
        ],
        "personal_reads": [
            {
                "at": _iso(r.at),
                "actor_type": r.actor_type,
                "actor_id": r.actor_id,
                "door": r.door,
                "fields": list(r.fields),
            }
            for r in reads_of(session, person_id, limit=100_000)
        ],
    }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None
