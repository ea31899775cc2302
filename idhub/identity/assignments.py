"""Assignments: person × unit × position over a period, primary or concurrent (kiêm nhiệm).

Rules: dates in order; the unit active; at most one primary post on any day; no two
overlapping assignments to the same post in the same unit. History is never deleted:
an assignment ends (end_date, decision, reason), it does not disappear.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from idhub.admin_scope import visible
from idhub.admin_scope.scope import outside
from idhub.changes.context import HrContext, apply_changes, snapshot
from idhub.errors import Conflict, Invalid, NotFound
from idhub.identity.access import without_access
from idhub.identity.people import get_person
from idhub.models import (
    Assignment,
    AssignmentKind,
    OrgUnit,
    Position,
    UnitStatus,
    time_ordered_uuid,
)


def get_assignment(session: Session, assignment_id: uuid.UUID) -> Assignment:
    assignment = session.get(Assignment, assignment_id)
    if assignment is None:
        raise NotFound(f"No assignment with id {assignment_id}.", code="assignment_not_found")
    return assignment


def _overlaps(other: Any, start: dt.date, end: dt.date | None) -> bool:
    return (other.end_date is None or other.end_date >= start) and (
        end is None or other.start_date <= end
    )


def check_assignment(
    values: dict[str, Any],
    unit: OrgUnit | None,
    position_known: bool,
    others: Iterable[Any],
) -> None:
    """The assignment rules over plain data: `others` are the person's other assignments.

    One-at-a-time writes and set-based batches (hr/bulk.py) both call this, so the rules
    live in one place; only how the data is fetched differs.
    """
    start, end = values["start_date"], values.get("end_date")
    if end is not None and end < start:
        raise Invalid(
            "end_date is before start_date.", details={"end_date": ["Before start_date."]}
        )
    if unit is None:
        raise Invalid("The unit does not exist.", details={"unit_id": ["Unknown unit."]})
    if unit.status != UnitStatus.ACTIVE:
        raise Invalid("The unit is no longer active.", details={"unit_id": ["Unit is not active."]})
    if not position_known:
        raise Invalid("The position does not exist.", details={"position_id": ["Unknown."]})
    for other in others:
        if not _overlaps(other, start, end):
            continue
        if values["kind"] == AssignmentKind.PRIMARY and other.kind == AssignmentKind.PRIMARY:
            raise Conflict(
                "The person already has a primary assignment in this period; end it first.",
                code="primary_overlap",
                details={"conflicting_assignment_id": str(other.id)},
            )
        if other.unit_id == values["unit_id"] and other.position_id == values["position_id"]:
            raise Conflict(
                "The person already holds this position in this unit in this period.",
                code="duplicate_assignment",
                details={"conflicting_assignment_id": str(other.id)},
            )


def _validate(session: Session, values: dict[str, Any], except_id: uuid.UUID | None) -> None:
    others = session.scalars(select(Assignment).where(Assignment.person_id == values["person_id"]))
    check_assignment(
        values,
        session.get(OrgUnit, values["unit_id"]),
        session.get(Position, values["position_id"]) is not None,
        [other for other in others if other.id != except_id],
    )


def holds_post(session: Session, person_id: uuid.UUID) -> bool:
    """Whether the person holds a post today or later."""
    today = dt.date.today()
    query = select(Assignment.id).where(
        Assignment.person_id == person_id,
        or_(Assignment.end_date.is_(None), Assignment.end_date >= today),
    )
    return session.scalar(query.limit(1)) is not None


def _in_scope(ctx: HrContext, unit_id: uuid.UUID) -> None:
    ctx.scope.require(unit_id, "the unit of the post / đơn vị của chức vụ")


def create_assignment(ctx: HrContext, data: dict[str, Any]) -> Assignment:
    get_person(ctx.session, data["person_id"], for_update=True)
    if not ctx.scope.everywhere:
        _in_scope(ctx, data["unit_id"])
        # Someone else's staff stays theirs: only a person in scope, or one holding no
        # post today (a newcomer, a transfer whose old post has ended), is posted here.
        if not visible.has_person(ctx.session, ctx.scope, data["person_id"]) and holds_post(
            ctx.session, data["person_id"]
        ):
            raise outside("the person holds a post elsewhere / người đang giữ chức vụ nơi khác")
    _validate(ctx.session, data, None)
    assignment = Assignment(id=time_ordered_uuid(), **data)
    ctx.session.add(assignment)
    ctx.record_create(assignment, "assignment.create")
    ctx.converge([assignment.person_id], f"{assignment.kind.value} assignment added")
    return assignment


def update_assignment(
    ctx: HrContext, assignment: Assignment, changes: dict[str, Any]
) -> Assignment:
    get_person(ctx.session, assignment.person_id, for_update=True)
    _in_scope(ctx, assignment.unit_id)
    before = snapshot(assignment)
    merged = {
        "person_id": assignment.person_id,
        "unit_id": assignment.unit_id,
        "position_id": assignment.position_id,
        "kind": assignment.kind,
        "start_date": assignment.start_date,
        "end_date": assignment.end_date,
        **changes,
    }
    _validate(ctx.session, merged, assignment.id)
    held = _held_on(assignment, dt.date.today())
    apply_changes(assignment, changes)
    if ctx.record_change(assignment, before, "assignment.update"):
        # A post held today and no longer: the person may be left with none (urgent).
        cut = held and not _held_on(assignment, dt.date.today())
        ctx.converge(
            [assignment.person_id], "assignment changed", cut_off=without_access if cut else None
        )
    return assignment


def end_assignment(
    ctx: HrContext,
    assignment: Assignment,
    *,
    end_date: dt.date,
    decision_ref: str | None,
    reason: str | None,
) -> Assignment:
    _in_scope(ctx, assignment.unit_id)
    if assignment.end_date is not None:
        raise Conflict(
            f"The assignment already ended on {assignment.end_date.isoformat()}.",
            code="assignment_already_ended",
        )
    if end_date < assignment.start_date:
        raise Invalid(
            "The end date is before the assignment started.",
            details={"end_date": ["Before start_date."]},
        )
    before = snapshot(assignment)
    assignment.end_date = end_date
    assignment.end_decision_ref = decision_ref
    assignment.end_reason = reason
    ctx.record_change(assignment, before, "assignment.end")
    # Ended before today: the person may be left with no post, a leaver (urgent).
    cut = end_date < dt.date.today()
    ctx.converge(
        [assignment.person_id],
        f"assignment ends on {end_date.isoformat()}",
        cut_off=without_access if cut else None,
    )
    return assignment


def _held_on(assignment: Assignment, day: dt.date) -> bool:
    return assignment.start_date <= day and (
        assignment.end_date is None or assignment.end_date >= day
    )


def people_holding(
    session: Session,
    *,
    unit_ids: Iterable[uuid.UUID] | None = None,
    position_id: uuid.UUID | None = None,
) -> set[uuid.UUID]:
    """People whose current or future posts are in these units or of this position."""
    yesterday = dt.date.today() - dt.timedelta(days=1)
    query = select(Assignment.person_id).where(
        or_(Assignment.end_date.is_(None), Assignment.end_date >= yesterday)
    )
    if unit_ids is not None:
        query = query.where(Assignment.unit_id.in_(list(unit_ids)))
    if position_id is not None:
        query = query.where(Assignment.position_id == position_id)
    return set(session.scalars(query.distinct()))
