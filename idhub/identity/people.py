"""People: create and update, with the uniqueness rules of national ID and civil-servant code."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.admin_scope import visible
from idhub.changes.context import HrContext, apply_changes, nfc_fields, snapshot
from idhub.errors import Conflict, NotFound
from idhub.identity import cccd
from idhub.identity.access import without_access
from idhub.identity.personal import cccd_clause
from idhub.identity.usernames import issue_username
from idhub.models import Person, PersonStatus, time_ordered_uuid
from provisioning.naming import search_key

NAME_FIELDS = ("family_name", "middle_name", "given_name")


def get_person(session: Session, person_id: uuid.UUID, *, for_update: bool = False) -> Person:
    query = select(Person).where(Person.id == person_id)
    if for_update:
        # Serialises writes that check rules across one person's rows (e.g. one primary post).
        query = query.with_for_update()
    person = session.scalar(query)
    if person is None:
        raise NotFound(f"No person with id {person_id}.", code="person_not_found")
    return person


UNIQUE_FIELDS = {
    "national_id": "duplicate_national_id",
    "civil_servant_code": "duplicate_civil_servant_code",
}


def duplicate(field: str) -> Conflict:
    return Conflict(
        f"Another person already has this {field.replace('_', ' ')}.",
        code=UNIQUE_FIELDS[field],
        details={field: ["Already used by another person."]},
    )


def _check_unique(session: Session, data: dict[str, Any], except_id: uuid.UUID | None) -> None:
    for field in UNIQUE_FIELDS:
        value = data.get(field)
        if not value:
            continue
        if field == "national_id":
            query = select(Person.id).where(cccd_clause(value))
        else:
            query = select(Person.id).where(Person.civil_servant_code == value)
        if except_id is not None:
            query = query.where(Person.id != except_id)
        if session.scalar(query) is not None:
            raise duplicate(field)


def full_name(data: dict[str, Any]) -> str:
    return " ".join(
        p for p in (data["family_name"], data.get("middle_name"), data["given_name"]) if p
    )


def create_person(ctx: HrContext, data: dict[str, Any]) -> Person:
    data = nfc_fields(data, NAME_FIELDS)
    data.setdefault("middle_name", "")
    cccd.check(data["national_id"], data.get("date_of_birth"))
    _check_unique(ctx.session, data, None)
    person = Person(id=time_ordered_uuid(), **data, search_name=search_key(full_name(data)))
    person.owner_unit_id = ctx.scope.home  # seen by its unit's officers until posted
    issue_username(ctx.session, person, ctx.naming_pattern)  # before add: one INSERT, no UPDATE
    ctx.session.add(person)
    ctx.record_create(person, "person.create")
    ctx.converge([person.id], "person created")
    return person


def update_person(ctx: HrContext, person: Person, changes: dict[str, Any]) -> Person:
    changes = nfc_fields(changes, NAME_FIELDS)
    if not visible.has_person(ctx.session, ctx.scope, person.id):
        raise NotFound(f"No person with id {person.id}.", code="person_not_found")
    before = snapshot(person)
    if "national_id" in changes or "date_of_birth" in changes:
        # Only when they change: a stored record that fails stays editable otherwise
        # (`idhub hr check` lists those).
        cccd.check(
            changes.get("national_id", person.national_id),
            changes.get("date_of_birth", person.date_of_birth),
        )
    _check_unique(ctx.session, changes, person.id)
    apply_changes(person, changes)
    person.search_name = search_key(person.full_name)
    if ctx.record_change(person, before, "person.update"):
        # No longer active (suspended, left): the account is disabled, urgently.
        cut = before.get("status") == PersonStatus.ACTIVE and person.status != PersonStatus.ACTIVE
        ctx.converge([person.id], "person changed", cut_off=without_access if cut else None)
    return person
