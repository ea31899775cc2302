"""/api/v1/people: people and their assignments."""

from __future__ import annotations

import datetime as dt
import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import or_, select

from idhub.db import db_session
from idhub.identity import people
from idhub.identity.schemas import (
    AssignmentSchema,
    PersonPatchSchema,
    PersonQuerySchema,
    PersonSchema,
)
from idhub.models import Assignment, Person
from idhub.web.common import (
    READ_SCOPES,
    contains,
    create_one,
    hr_context,
    paginate,
    patch_one,
    read_one,
    require_if_match,
    scoped,
    with_etag,
)
from idhub.web.schemas import ErrorSchema

blp = Blueprint("people", __name__, url_prefix="/api/v1/people", description="People (staff).")
PAGE = {"page_size": 50, "max_page_size": 500}


def current_in_unit(unit_id: uuid.UUID, on: dt.date):  # type: ignore[no-untyped-def]
    return (
        select(Assignment.person_id)
        .where(Assignment.unit_id == unit_id, Assignment.start_date <= on)
        .where(or_(Assignment.end_date.is_(None), Assignment.end_date >= on))
    )


@blp.route("")
class People(MethodView):
    @scoped(blp, READ_SCOPES)
    @blp.arguments(PersonQuerySchema, location="query")
    @blp.response(200, PersonSchema(many=True))
    @blp.paginate(**PAGE)
    def get(self, filters, pagination_parameters):
        """List people (filter by name without accents, status, unit, national ID)."""
        query = select(Person).order_by(Person.search_name, Person.id)
        for field in ("status", "national_id", "civil_servant_code"):
            if field in filters:
                query = query.where(getattr(Person, field) == filters[field])
        if "q" in filters:
            query = query.where(contains(Person.search_name, filters["q"]))
        if "unit_id" in filters:
            query = query.where(Person.id.in_(current_in_unit(filters["unit_id"], dt.date.today())))
        return paginate(query, pagination_parameters)

    @create_one(blp, PersonSchema, PersonSchema, "National ID or code already used.")
    def post(self, data):
        """Record a new person (a joiner; assignments are added separately)."""
        person = people.create_person(hr_context(), data)
        return with_etag(person, 201, {"Location": f"/api/v1/people/{person.id}"})


@blp.route("/<uuid:person_id>")
class PersonById(MethodView):
    @read_one(blp, PersonSchema, "person")
    def get(self, person_id: uuid.UUID):
        """Get one person."""
        return with_etag(people.get_person(db_session(), person_id))

    @patch_one(blp, PersonPatchSchema, PersonSchema, "person")
    def patch(self, changes, person_id: uuid.UUID):
        """Change fields of a person (send If-Match)."""
        person = people.get_person(db_session(), person_id, for_update=True)
        require_if_match(person)
        return with_etag(people.update_person(hr_context(), person, changes))


@blp.route("/<uuid:person_id>/assignments")
class PersonAssignments(MethodView):
    @scoped(blp, READ_SCOPES)
    @blp.response(200, AssignmentSchema(many=True))
    @blp.alt_response(404, schema=ErrorSchema, description="No such person.")
    def get(self, person_id: uuid.UUID):
        """Every assignment of a person, current and past, newest first."""
        people.get_person(db_session(), person_id)
        query = (
            select(Assignment)
            .where(Assignment.person_id == person_id)
            .order_by(Assignment.start_date.desc(), Assignment.id)
        )
        return list(db_session().scalars(query))
