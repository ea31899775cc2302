"""/api/v1/changesets: reorganisations, checked, previewed, applied, followed; unit lineage."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import Select, select

from idhub.admin_scope import visible
from idhub.db import db_session
from idhub.identity.units import get_unit
from idhub.models import ChangeSet, ChangeSetState
from idhub.reorg import changesets, lineage
from idhub.reorg.preview import preview, to_csv
from idhub.reorg.schemas import ChangeSetPatchSchema, ChangeSetSchema
from idhub.services import current_hub
from idhub.web.common import (
    WRITE_SCOPES,
    Docs,
    Resource,
    current_scope,
    hr_context,
    read_one,
    require_if_match,
    scoped,
    where_equal,
    with_etag,
    writes,
)
from idhub.web.schemas import ErrorSchema

blp = Blueprint(
    "changesets",
    __name__,
    url_prefix="/api/v1",
    description="Reorganisations as change sets; where units went and came from.",
)


class ChangeSetQuerySchema(Schema):
    state = fields.Enum(ChangeSetState, by_value=True)


class ProblemSchema(Schema):
    operation = fields.Integer(allow_none=True)
    code = fields.String()
    message = fields.String()


class CheckSchema(Schema):
    ok = fields.Boolean()
    problems = fields.List(fields.Nested(ProblemSchema))
    units = fields.Dict(metadata={"description": "Units created, retired, moved, renamed."})
    people = fields.Integer(metadata={"description": "People whose posts move."})


class PreviewQuerySchema(Schema):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))


class PreviewSchema(Schema):
    change_set_id = fields.UUID()
    decision_number = fields.String()
    effective_date = fields.String()
    ok = fields.Boolean()
    problems = fields.List(fields.Nested(ProblemSchema))
    units = fields.Dict()
    people = fields.Dict()
    collisions = fields.List(fields.Dict())
    rows = fields.List(fields.Dict(), metadata={"description": "One row per person affected."})
    seats = fields.List(
        fields.Dict(),
        metadata={
            "description": "Seat mailboxes the change set opens, closes, hands over or "
            "readdresses: uid, unit, position, state, mail, holders, old_mail, old_holders."
        },
    )


class ProgressSchema(Schema):
    state = fields.String()
    people = fields.Integer()
    done = fields.Integer()
    pending = fields.Integer()
    held = fields.Integer()
    failed = fields.Integer()


class LineageQuerySchema(Schema):
    on = fields.Date(metadata={"description": "As of this date (default: today)."})


class LineageSchema(Schema):
    unit_id = fields.UUID()
    code = fields.String()
    name = fields.String()
    status = fields.String()
    went_to = fields.List(fields.Dict(), metadata={"description": "Successors, transitively."})
    came_from = fields.List(fields.Dict(), metadata={"description": "Predecessors, transitively."})
    current = fields.List(fields.Dict(), metadata={"description": "Active units it lives on in."})


class PersonHistorySchema(Schema):
    person_id = fields.UUID()
    posts = fields.List(fields.Dict())
    reorganisations = fields.List(fields.Dict())


def _listed(filters: dict) -> Select:
    query = select(ChangeSet).order_by(ChangeSet.effective_date.desc(), ChangeSet.id)
    query = visible.change_sets(query, db_session(), current_scope())
    return where_equal(query, ChangeSet, filters, ("state",))


ChangeSets, ChangeSetById = Resource(
    blp,
    "/changesets",
    "change_set_id",
    "change set",
    ChangeSetSchema,
    ChangeSetPatchSchema,
    ChangeSetQuerySchema,
).views(
    ("ChangeSets", "ChangeSetById"),
    Docs(
        list="List change sets, newest effective date first.",
        create="Create a draft change set (the decision and its unit operations).",
        get="Get one change set.",
        patch="Edit a draft or scheduled change set (send If-Match); it becomes a draft again.",
    ),
    listed=_listed,
    create=changesets.create_change_set,
    conflict="Not used.",
    fetch=changesets.get_change_set,
    update=changesets.update_change_set,
)


@blp.route("/changesets/<uuid:change_set_id>/check")
class ChangeSetCheck(MethodView):
    @read_one(blp, CheckSchema, "change set")
    def get(self, change_set_id: uuid.UUID):
        """Every problem of the change set against today's org data (nothing is changed)."""
        session = db_session()
        effect = changesets.check(session, changesets.get_change_set(session, change_set_id))
        return {
            "ok": effect.ok,
            "problems": [changesets.problem_json(p) for p in effect.problems],
            "units": {
                "created": len(effect.new_units),
                "retired": len(effect.retired),
                "moved": len(effect.parents),
                "renamed": len(effect.renames),
            },
            "people": len(effect.people),
        }


@blp.route("/changesets/<uuid:change_set_id>/preview")
class ChangeSetPreview(MethodView):
    # A write scope: the preview writes the change set in a transaction it rolls back
    # (holding the write lock on SQLite while it reads the directory).
    @scoped(blp, WRITE_SCOPES)
    @blp.arguments(PreviewQuerySchema, location="query")
    @blp.response(200, PreviewSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such change set.")
    def get(self, query, change_set_id: uuid.UUID):
        """Everything applying would change, per person (`?format=csv` for sign-off)."""
        hub = current_hub()
        connector = hub.connectors.directory()
        try:
            result = preview(
                hub.db, connector, hub.rules, change_set_id, base_dn=hub.connectors.base_dn
            )
        finally:
            connector.close()
        if query["format"] == "csv":
            name = f"changeset-{change_set_id}-preview.csv"
            return Response(
                to_csv(result),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        return result


def _action(name: str, doc: str) -> Callable[..., Any]:
    def view(self: MethodView, change_set_id: uuid.UUID) -> Any:
        change_set = changesets.get_change_set(db_session(), change_set_id)
        if request.if_match:
            require_if_match(change_set)
        getattr(changesets, name)(hr_context(reason=change_set.reason), change_set)
        return with_etag(change_set)

    view.__doc__ = doc
    view.__name__ = "post"
    view = blp.alt_response(409, schema=ErrorSchema, description="Closed, not due, or stale.")(view)
    view = blp.alt_response(422, schema=ErrorSchema, description="The change set has problems.")(
        view
    )
    view = blp.alt_response(404, schema=ErrorSchema, description="No such change set.")(view)
    view = blp.response(200, ChangeSetSchema)(view)
    return scoped(blp, WRITE_SCOPES)(writes(view))


@blp.route("/changesets/<uuid:change_set_id>/apply")
class ChangeSetApply(MethodView):
    post = _action(
        "apply",
        "Apply now, in one transaction: org data changes, every affected person is queued.",
    )


@blp.route("/changesets/<uuid:change_set_id>/schedule")
class ChangeSetSchedule(MethodView):
    post = _action("schedule", "Apply on the effective date (checked now, and again then).")


@blp.route("/changesets/<uuid:change_set_id>/cancel")
class ChangeSetCancel(MethodView):
    post = _action("cancel", "Cancel a draft or scheduled change set.")


@blp.route("/changesets/<uuid:change_set_id>/progress")
class ChangeSetProgress(MethodView):
    @read_one(blp, ProgressSchema, "change set")
    def get(self, change_set_id: uuid.UUID):
        """How far the directory has followed: people done, pending, held, failed."""
        session = db_session()
        return changesets.progress(session, changesets.get_change_set(session, change_set_id))


@blp.route("/org-units/<uuid:unit_id>/lineage")
class OrgUnitLineageView(MethodView):
    @read_one(blp, LineageSchema, "unit")
    @blp.arguments(LineageQuerySchema, location="query")
    def get(self, query, unit_id: uuid.UUID):
        """Where a unit went and where it came from, as of a date."""
        session = db_session()
        unit = get_unit(session, unit_id)
        return lineage.of_unit(session, unit, query.get("on") or dt.date.today())


@blp.route("/people/<uuid:person_id>/history")
class PersonHistory(MethodView):
    @read_one(blp, PersonHistorySchema, "person")
    def get(self, person_id: uuid.UUID):
        """A person's posts over time and the reorganisations they went through (a subtree
        administrator sees the posts in their subtree)."""
        history = lineage.of_person(db_session(), person_id)
        scope = current_scope()
        if not scope.everywhere:
            posts = history["posts"]
            history["posts"] = [p for p in posts if scope.covers(uuid.UUID(p["unit_id"]))]
        return history
