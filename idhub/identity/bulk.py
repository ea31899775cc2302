"""Set-based HR writes: a batch's run of joiners checked and written in a few statements.

A monthly HR decision hires hundreds of people at once. One at a time, each person costs a
handful of queries and flushes; here the same rules (`people.duplicate`,
`assignments.check_assignment`, the username allocator) read data fetched up front, and
the rows, their audit events and their converge jobs go out as a few multi-row INSERTs in
the caller's transaction. The result is what the one-at-a-time path would have written.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from idhub.changes.chain import Change
from idhub.changes.context import HrContext, nfc_fields, snapshot_values
from idhub.db import among, table_of
from idhub.errors import DomainError, NotFound
from idhub.identity import cccd
from idhub.identity.assignments import check_assignment
from idhub.identity.people import NAME_FIELDS, UNIQUE_FIELDS, duplicate, full_name
from idhub.identity.personal import blind
from idhub.identity.usernames import UsernameAllocator
from idhub.models import (
    Assignment,
    AssignmentKind,
    OrgUnit,
    Person,
    PersonStatus,
    Position,
    ReservedIdentifier,
    time_ordered_uuid,
    utcnow,
)
from provisioning.naming import search_key

CREATES = frozenset({"create_person", "create_assignment"})
_CHUNK = 900  # bound parameters per IN (), below every SQLite build's limit
_REF = "ref:"


@dataclass(frozen=True)
class Create:
    """One item of a run: its position in the batch, the operation, its validated data."""

    index: int
    op: str
    data: dict[str, Any]
    ref: str | None = None


class ItemFailed(Exception):
    """An item breaks an HR rule; nothing of the batch may be written."""

    def __init__(self, index: int, error: DomainError) -> None:
        super().__init__(error.message)
        self.index = index
        self.error = error


class _Post(NamedTuple):
    """What the assignment rules read of another assignment."""

    id: uuid.UUID
    unit_id: uuid.UUID
    position_id: uuid.UUID
    kind: AssignmentKind
    start_date: dt.date
    end_date: dt.date | None


def _in_chunks(session: Session, column: Any, values: Iterable[Any], *extra: Any) -> list[Any]:
    """Rows whose `column` is among `values`, a few hundred bound parameters at a time."""
    values = list(values)
    rows: list[Any] = []
    for offset in range(0, len(values), _CHUNK):
        chunk = values[offset : offset + _CHUNK]
        query = select(*extra or (column,)).where(among(session, column, chunk))
        rows.extend(session.execute(query).all())
    return rows


def create_many(
    ctx: HrContext, items: Sequence[Create], refs: dict[str, uuid.UUID]
) -> list[uuid.UUID]:
    """Write a run of create_person / create_assignment items; the new ids in item order.

    `refs` maps the names of people created earlier in the batch to their ids and gains
    those of this run. Raises ItemFailed for the first item (by position) that breaks a rule.
    """
    session, now = ctx.session, utcnow()
    people_rows = _people_rows(ctx, [i for i in items if i.op == "create_person"], now)
    for item, row in people_rows:
        if item.ref:
            refs[item.ref] = row["id"]
    assignment_rows = _assignment_rows(
        session, [i for i in items if i.op == "create_assignment"], refs, now
    )
    rows_by_index = {item.index: row for item, row in (*people_rows, *assignment_rows)}

    if people_rows:
        session.execute(insert(table_of(Person)), [row for _, row in people_rows])
        session.execute(
            insert(table_of(ReservedIdentifier)),
            [
                {"identifier": row["username"], "person_id": row["id"], "issued_at": now}
                for _, row in people_rows
            ],
        )
    if assignment_rows:
        session.execute(insert(table_of(Assignment)), [row for _, row in assignment_rows])

    changes = []
    for item in items:
        row = rows_by_index[item.index]
        model = Person if item.op == "create_person" else Assignment
        action = "person.create" if item.op == "create_person" else "assignment.create"
        changes.append(
            Change(action, model.__tablename__, row["id"], after=snapshot_values(model, row))
        )
        if item.op == "create_person":
            ctx.converge([row["id"]], "person created")
        else:
            ctx.converge([row["person_id"]], f"{row['kind'].value} assignment added")
    ctx.audit.record_many(session, actor=ctx.actor, changes=changes, reason=ctx.reason)
    return [rows_by_index[item.index]["id"] for item in items]


def _people_rows(
    ctx: HrContext, items: list[Create], now: dt.datetime
) -> list[tuple[Create, dict[str, Any]]]:
    if not items:
        return []
    session = ctx.session
    data = [{"middle_name": "", **nfc_fields(item.data, NAME_FIELDS)} for item in items]
    failures: list[ItemFailed] = []
    for item, values in zip(items, data, strict=True):
        try:
            cccd.check(values["national_id"], values.get("date_of_birth"))
        except DomainError as exc:
            failures.append(ItemFailed(item.index, exc))
    for field in UNIQUE_FIELDS:
        # The CCCD is found by its blind index: the bound CCCDs are hashed by its type.
        column = Person.national_id_index if field == "national_id" else getattr(Person, field)
        wanted = {d[field] for d in data if d.get(field)}
        taken = {row[0] for row in _in_chunks(session, column, wanted)}
        if field == "national_id":
            taken = {value for value in wanted if blind(session, value) in taken}
        seen: set[str] = set()
        for item, values in zip(items, data, strict=True):
            value = values.get(field)
            if not value:
                continue
            if value in taken or value in seen:
                failures.append(ItemFailed(item.index, duplicate(field)))
            seen.add(value)
    if failures:
        raise min(failures, key=lambda f: f.index)

    allocator = UsernameAllocator(session, ctx.naming_pattern)
    bases = [allocator.base(d["family_name"], d["middle_name"], d["given_name"]) for d in data]
    allocator.prefetch(bases)
    rows = []
    for item, values, base in zip(items, data, bases, strict=True):
        row = {
            "civil_servant_code": None,
            "date_of_birth": None,
            "personal_email": None,
            "personal_phone": None,
            "status": PersonStatus.ACTIVE,
            **values,
            "id": time_ordered_uuid(),
            "username": allocator.allocate(base),
            "search_name": search_key(full_name(values)),
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        rows.append((item, row))
    return rows


def resolve_person(value: Any, refs: dict[str, uuid.UUID]) -> uuid.UUID:
    if isinstance(value, str) and value.startswith(_REF):
        return refs[value[len(_REF) :]]  # checked when the batch was validated
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _assignment_rows(
    session: Session, items: list[Create], refs: dict[str, uuid.UUID], now: dt.datetime
) -> list[tuple[Create, dict[str, Any]]]:
    if not items:
        return []
    values = [
        {**item.data, "person_id": resolve_person(item.data["person_id"], refs)} for item in items
    ]
    new_people = set(refs.values())
    existing = {v["person_id"] for v in values} - new_people
    # Locked like the one-at-a-time path does: serialises rule checks across one person.
    found: set[uuid.UUID] = set()
    for offset in range(0, len(existing), _CHUNK):
        chunk = list(existing)[offset : offset + _CHUNK]
        found.update(
            session.scalars(
                select(Person.id).where(among(session, Person.id, chunk)).with_for_update()
            )
        )
    others: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for (assignment,) in _in_chunks(session, Assignment.person_id, found, Assignment):
        others[assignment.person_id].append(assignment)
    units = {
        unit.id: unit
        for (unit,) in _in_chunks(session, OrgUnit.id, {v["unit_id"] for v in values}, OrgUnit)
    }
    positions = {
        row[0] for row in _in_chunks(session, Position.id, {v["position_id"] for v in values})
    }

    rows = []
    for item, value in zip(items, values, strict=True):
        person_id = value["person_id"]
        try:
            if person_id not in found and person_id not in new_people:
                raise NotFound(f"No person with id {person_id}.", code="person_not_found")
            check_assignment(
                value,
                units.get(value["unit_id"]),
                value["position_id"] in positions,
                others[person_id],
            )
        except DomainError as exc:
            raise ItemFailed(item.index, exc) from exc
        row = {
            "end_date": None,
            "decision_ref": None,
            **value,
            "id": time_ordered_uuid(),
            "end_decision_ref": None,
            "end_reason": None,
            "created_at": now,
            "updated_at": now,
            "version": 1,
        }
        others[person_id].append(
            _Post(
                row["id"],
                row["unit_id"],
                row["position_id"],
                row["kind"],
                row["start_date"],
                row["end_date"],
            )
        )
        rows.append((item, row))
    return rows
