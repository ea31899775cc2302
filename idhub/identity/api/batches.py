"""/api/v1/batches: many HR changes in one request, validated as a whole, applied all or nothing.

Each item is still one audited HR change with its own converge job; items refer to people
created earlier in the same batch by `ref` (e.g. "person_id": "ref:new1").
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from idhub.admin_scope import visible
from idhub.admin_scope.scope import outside
from idhub.changes.context import HrContext
from idhub.changes.guard import Guard
from idhub.errors import Conflict, DomainError, Invalid
from idhub.identity import assignments, bulk, people
from idhub.identity.api.assignments import end_as_asked
from idhub.identity.schemas import (
    AssignmentEndSchema,
    AssignmentPatchSchema,
    AssignmentSchema,
    PersonPatchSchema,
    PersonSchema,
)
from idhub.models import Assignment, Person
from idhub.services import ProvisioningSettings, current_hub
from idhub.web.common import create_one, hr_context
from idhub.web.schemas import Text

blp = Blueprint("batches", __name__, url_prefix="/api/v1/batches", description="Bulk HR changes.")

MAX_ITEMS = 5000
_REF = "ref:"
OPERATIONS: dict[str, tuple[type[Schema], bool]] = {
    # op → (schema of `data`, needs `id`)
    "create_person": (PersonSchema, False),
    "update_person": (PersonPatchSchema, True),
    "create_assignment": (AssignmentSchema, False),
    "update_assignment": (AssignmentPatchSchema, True),
    "end_assignment": (AssignmentEndSchema, True),
}


class BatchItemSchema(Schema):
    op = fields.String(required=True, validate=validate.OneOf(sorted(OPERATIONS)))
    id = fields.UUID(metadata={"description": "The object changed (update / end)."})
    ref = fields.String(
        validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,64}$"),
        metadata={"description": "A name later items use as `ref:<name>` for this new person."},
    )
    data = fields.Dict(required=True)


class BatchSchema(Schema):
    items = fields.List(
        fields.Nested(BatchItemSchema), required=True, validate=validate.Length(1, MAX_ITEMS)
    )
    reason = Text(max_length=500, metadata={"description": "Why (e.g. the decision number)."})
    confirm = fields.Boolean(
        load_default=False,
        metadata={"description": "Proceed although the batch trips the mass-change guard."},
    )


class BatchResultSchema(Schema):
    items = fields.List(fields.Dict())
    jobs = fields.Integer(metadata={"description": "People queued for converge."})


def _resolve_refs(data: dict[str, Any], refs: dict[str, uuid.UUID], index: int) -> dict[str, Any]:
    value = data.get("person_id")
    if isinstance(value, str) and value.startswith(_REF):
        name = value[len(_REF) :]
        if name not in refs:
            raise ValidationError({str(index): {"data": {"person_id": [f"Unknown ref {name!r}."]}}})
        return {**data, "person_id": str(refs[name])}
    return data


def _validate(items: list[dict]) -> list[dict]:
    """Every item against its own schema; all errors reported by position."""
    schemas = {op: schema_cls() for op, (schema_cls, _) in OPERATIONS.items()}
    errors: dict[str, Any] = {}
    refs_seen: set[str] = set()
    parsed = []
    for index, item in enumerate(items):
        needs_id = OPERATIONS[item["op"]][1]
        problems: dict[str, Any] = {}
        if needs_id and "id" not in item:
            problems["id"] = ["Required for this operation."]
        if "ref" in item:
            if item["op"] != "create_person":
                problems["ref"] = ["Only create_person items take a ref."]
            elif item["ref"] in refs_seen:
                problems["ref"] = ["Used twice in this batch."]
            refs_seen.add(item["ref"])
        data = dict(item["data"])
        person_ref = data.get("person_id")
        if isinstance(person_ref, str) and person_ref.startswith(_REF):
            if person_ref[len(_REF) :] not in refs_seen:
                problems.setdefault("data", {})["person_id"] = ["Refers to no earlier item."]
            data["person_id"] = str(uuid.UUID(int=0))  # placeholder for the schema check
        try:
            loaded = schemas[item["op"]].load(data)
            if data.get("person_id") != person_ref:  # put the reference back
                loaded["person_id"] = person_ref
        except ValidationError as exc:
            problems.setdefault("data", {}).update(exc.messages_dict)
            loaded = None
        if problems:
            errors[str(index)] = problems
        parsed.append({**item, "loaded": loaded})
    if errors:
        raise Invalid("Some items are invalid; nothing was applied.", details={"items": errors})
    return parsed


def _people_left_without_post(session: Session, ends: list[tuple[uuid.UUID, dt.date]]) -> int:
    """How many people this batch's ends would leave with no current or future post."""
    ended_ids = {aid for aid, _ in ends}
    if not ended_ids:
        return 0
    owners = dict(
        session.execute(
            select(Assignment.id, Assignment.person_id).where(Assignment.id.in_(ended_ids))
        ).all()
    )
    count = 0
    for person_id in set(owners.values()):
        remaining = session.scalar(
            select(func.count()).where(
                Assignment.person_id == person_id,
                Assignment.id.not_in(ended_ids),
                or_(Assignment.end_date.is_(None), Assignment.end_date >= dt.date.today()),
            )
        )
        count += remaining == 0
    return count


@blp.route("")
class Batches(MethodView):
    @create_one(
        blp, BatchSchema, BatchResultSchema, "An item breaks an HR rule, or guard.", status=200
    )
    def post(self, batch):
        """Apply a list of person / assignment changes atomically (all or nothing)."""
        return apply_batch(
            hr_context(reason=batch.get("reason")), batch["items"], confirm=batch["confirm"]
        )


def apply_batch(ctx: HrContext, raw_items: list[dict], *, confirm: bool = False) -> dict:
    """Validate and apply a batch in the caller's transaction (the API's and the console's
    spreadsheet import's one path): the items' ids in order and how many people got a job.
    Raises a DomainError (nothing may be committed then) for the first item breaking a rule."""
    items = _validate(raw_items)
    session = ctx.session
    ends = [
        (item["id"], item["loaded"]["end_date"]) for item in items if item["op"] == "end_assignment"
    ]
    guard = Guard.from_settings(current_hub().settings.section(ProvisioningSettings))
    if not confirm and guard.would_trip(session, _people_left_without_post(session, ends)):
        raise Conflict(
            "This batch would disable more accounts than the mass-change guard allows; "
            "send it again with confirm=true if that is intended.",
            code="mass_change_guard",
        )
    _within_scope(ctx, items)
    refs: dict[str, uuid.UUID] = {}
    results: list[dict[str, Any]] = []
    touched: set[uuid.UUID] = set()
    for run in _runs(items):
        if run[0][1]["op"] in bulk.CREATES:
            ids = _create_run(ctx, run, refs)
            touched.update(_people_of(run, ids, refs))
        else:
            ids = [_apply_one(ctx, index, item, refs, touched) for index, item in run]
        results.extend(
            {"index": index, "op": item["op"], "id": str(object_id)}
            for (index, item), object_id in zip(run, ids, strict=True)
        )
    if ctx.scope.home is not None and refs:  # seen by the officer's unit until posted
        session.execute(
            update(Person)
            .where(Person.id.in_(list(refs.values())))
            .values(owner_unit_id=ctx.scope.home)
        )
    return {"items": results, "jobs": len(touched)}


def _within_scope(ctx: HrContext, items: list[dict]) -> None:
    """A subtree-limited actor's batch touches only its subtree: checked before any write."""
    scope, session = ctx.scope, ctx.session
    if scope.everywhere:
        return
    for index, item in enumerate(items):
        op, data = item["op"], item["loaded"]
        try:
            if op == "create_assignment":
                scope.require(data["unit_id"], "the unit of the post / đơn vị của chức vụ")
                person = data["person_id"]
                if not (isinstance(person, str) and person.startswith(_REF)):
                    person_id = people.get_person(session, uuid.UUID(str(person))).id
                    if not visible.has_person(session, scope, person_id) and assignments.holds_post(
                        session, person_id
                    ):
                        raise outside("the person holds a post elsewhere")
            elif op == "update_person":
                visible.require_person(session, scope, item["id"])
            elif op in ("update_assignment", "end_assignment"):
                visible.require_assignment(session, scope, item["id"])
        except DomainError as exc:
            raise _failed(exc, index, op) from exc


def _runs(items: list[dict]) -> list[list[tuple[int, dict]]]:
    """Consecutive items grouped: runs of creates (written set-based) and the others."""
    runs: list[list[tuple[int, dict]]] = []
    for index, item in enumerate(items):
        creates = item["op"] in bulk.CREATES
        if runs and (runs[-1][0][1]["op"] in bulk.CREATES) == creates:
            runs[-1].append((index, item))
        else:
            runs.append([(index, item)])
    return runs


def _failed(exc: DomainError, index: int, op: str) -> DomainError:
    exc.details = {"index": index, "op": op, "error": exc.details}
    exc.message = f"Item {index} ({op}): {exc.message} Nothing was applied."
    return exc


def _create_run(
    ctx: HrContext, run: list[tuple[int, dict]], refs: dict[str, uuid.UUID]
) -> list[uuid.UUID]:
    creates = [
        bulk.Create(index, item["op"], item["loaded"], item.get("ref")) for index, item in run
    ]
    try:
        return bulk.create_many(ctx, creates, refs)
    except bulk.ItemFailed as failed:
        op = next(item["op"] for index, item in run if index == failed.index)
        raise _failed(failed.error, failed.index, op) from failed


def _people_of(
    run: list[tuple[int, dict]], ids: list[uuid.UUID], refs: dict[str, uuid.UUID]
) -> set[uuid.UUID]:
    people = set()
    for (_, item), object_id in zip(run, ids, strict=True):
        if item["op"] == "create_person":
            people.add(object_id)
        else:
            people.add(bulk.resolve_person(item["loaded"]["person_id"], refs))
    return people


def _apply_one(
    ctx: HrContext, index: int, item: dict, refs: dict[str, uuid.UUID], touched: set[uuid.UUID]
) -> uuid.UUID:
    data = _resolve_refs(item["loaded"], refs, index)
    try:
        obj = _apply(ctx, item["op"], item.get("id"), data)
    except DomainError as exc:
        raise _failed(exc, index, item["op"]) from exc
    touched.add(getattr(obj, "person_id", obj.id))
    return obj.id


def _apply(ctx: HrContext, op: str, object_id: uuid.UUID | None, data: dict[str, Any]) -> Any:
    session = ctx.session
    if op == "create_person":
        return people.create_person(ctx, data)
    if op == "create_assignment":
        data = {**data, "person_id": uuid.UUID(str(data["person_id"]))}
        return assignments.create_assignment(ctx, data)
    assert object_id is not None  # _validate requires an id of updates and ends
    if op == "update_person":
        return people.update_person(
            ctx, people.get_person(session, object_id, for_update=True), data
        )
    if op == "update_assignment":
        return assignments.update_assignment(
            ctx, assignments.get_assignment(session, object_id), data
        )
    return end_as_asked(ctx, assignments.get_assignment(session, object_id), data)
