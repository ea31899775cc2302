"""/api/v1/people: people and their assignments."""

from __future__ import annotations

import datetime as dt
import functools
import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import Select, or_, select

from idhub.admin_scope import visible
from idhub.db import db_session
from idhub.identity import people
from idhub.identity.personal import PERSONAL_FIELDS, cccd_clause, note_personal_read
from idhub.identity.schemas import (
    AssignmentSchema,
    PersonPatchSchema,
    PersonQuerySchema,
    PersonSchema,
)
from idhub.models import Assignment, Person
from idhub.web.common import (
    Docs,
    Resource,
    actor,
    contains,
    current_scope,
    read_one,
    where_equal,
)

blp = Blueprint("people", __name__, url_prefix="/api/v1/people", description="People (staff).")


def current_in_unit(unit_id: uuid.UUID, on: dt.date) -> Select:
    return (
        select(Assignment.person_id)
        .where(Assignment.unit_id == unit_id, Assignment.start_date <= on)
        .where(or_(Assignment.end_date.is_(None), Assignment.end_date >= on))
    )


def _listed(filters: dict) -> Select:
    query = select(Person).order_by(Person.search_name, Person.id)
    query = visible.people(query, db_session(), current_scope())
    query = where_equal(query, Person, filters, ("status", "civil_servant_code"))
    if "national_id" in filters:
        query = query.where(cccd_clause(filters["national_id"]))
    if "q" in filters:
        query = query.where(contains(Person.search_name, filters["q"]))
    if "unit_id" in filters:
        query = query.where(Person.id.in_(current_in_unit(filters["unit_id"], dt.date.today())))
    return query


def _shown(shown: list[Person]) -> None:
    """The personal fields an API client (or officer) was given: one row per person."""
    fields = [f for f in PERSONAL_FIELDS if any(getattr(p, f) is not None for p in shown)]
    note_personal_read(actor(), [p.id for p in shown], fields, "api")


People, PersonById = Resource(
    blp, "", "person_id", "person", PersonSchema, PersonPatchSchema, PersonQuerySchema
).views(
    ("People", "PersonById"),
    Docs(
        list="List people (filter by name without accents, status, unit, national ID).",
        create="Record a new person (a joiner; assignments are added separately).",
        get="Get one person.",
        patch="Change fields of a person (send If-Match).",
    ),
    listed=_listed,
    create=people.create_person,
    conflict="National ID or code already used.",
    fetch=people.get_person,
    update=people.update_person,
    fetch_for_update=functools.partial(people.get_person, for_update=True),
    shown=_shown,
)


@blp.route("/<uuid:person_id>/assignments")
class PersonAssignments(MethodView):
    @read_one(blp, AssignmentSchema(many=True), "person")
    def get(self, person_id: uuid.UUID):
        """Every assignment of a person, current and past, newest first."""
        people.get_person(db_session(), person_id)
        query = (
            select(Assignment)
            .where(Assignment.person_id == person_id)
            .order_by(Assignment.start_date.desc(), Assignment.id)
        )
        query = visible.units(query, db_session(), current_scope(), Assignment.unit_id)
        return list(db_session().scalars(query))
