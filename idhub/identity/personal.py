"""Personal data (Nghị định 13/2023/NĐ-CP): the one door for finding a person by CCCD and
for recording who read whose personal fields.

The CCCD, date of birth and personal contact are sealed at rest (idhub/models/sealed.py):
every lookup by CCCD goes through `cccd_clause` / `cccd_in`, which compare the keyed
blind index (the bound CCCD is hashed by the column's type). Every page, API or export
that shows a person's personal fields to someone else calls `note_personal_read`, which
appends to the `personal_read` table (not the audit chain: see docs/personal-data.md)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import has_request_context, request
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor
from idhub.db import WRITE_METHODS, db_session, get_db, table_of
from idhub.models import Person, PersonalRead
from idhub.models.sealed import keys_of

# The fields of a person that are personal data under the decree.
PERSONAL_FIELDS = ("national_id", "date_of_birth", "personal_email", "personal_phone")


def cccd_clause(cccd: str) -> Any:
    """A WHERE clause matching the person with this CCCD."""
    return Person.national_id_index == cccd


def cccd_in(cccds: Iterable[str]) -> Any:
    """A WHERE clause matching the people with any of these CCCDs."""
    return Person.national_id_index.in_(list(cccds))


def blind(session: Session, cccd: str) -> str:
    """The blind index of a CCCD, as stored (to compare with selected index values)."""
    return keys_of(session.get_bind().dialect).blind(cccd)


def note_personal_read(
    actor: Actor,
    person_ids: Iterable[uuid.UUID],
    fields: Iterable[str],
    door: str,
    *,
    session: Session | None = None,
) -> None:
    """Record that `actor` saw `fields` of these people through `door` ("api",
    "console", "scim", "national_export", "account"…): one row per person, one INSERT.

    A person reading their own data is not recorded. Written in `session` when given
    (the caller's transaction), in a web request's write transaction when there is one,
    else in a short transaction of its own (a GET's session is read-only)."""
    shown = ",".join(f for f in dict.fromkeys(fields) if f in PERSONAL_FIELDS)
    own = actor.id if actor.type == "person" else None
    people = [p for p in dict.fromkeys(person_ids) if str(p) != own]
    if not shown or not people:
        return
    now = dt.datetime.now(dt.UTC)
    rows = [
        {
            "at": now,
            "person_id": person_id,
            "actor_type": actor.type,
            "actor_id": (actor.id or "")[:128] or None,
            "door": door[:32],
            "fields": shown,
            "request_id": actor.request_id,
            "source_ip": actor.source_ip,
        }
        for person_id in people
    ]
    statement = insert(table_of(PersonalRead))
    if session is None and has_request_context() and request.method in WRITE_METHODS:
        session = db_session()  # the request's write transaction (its gate is held)
    if session is not None:
        session.execute(statement, rows)
        return
    with get_db().transaction() as own_session:
        own_session.execute(statement, rows)


@dataclass(frozen=True)
class Read:
    at: dt.datetime
    actor_type: str
    actor_id: str | None
    door: str
    fields: tuple[str, ...]


def reads_of(session: Session, person_id: uuid.UUID, *, limit: int, offset: int = 0) -> list[Read]:
    """Who read this person's personal data, most recent first."""
    rows = session.scalars(
        select(PersonalRead)
        .where(PersonalRead.person_id == person_id)
        .order_by(PersonalRead.at.desc(), PersonalRead.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [Read(r.at, r.actor_type, r.actor_id, r.door, tuple(r.fields.split(","))) for r in rows]


def count_reads(session: Session, person_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(PersonalRead)
            .where(PersonalRead.person_id == person_id)
        )
        or 0
    )
