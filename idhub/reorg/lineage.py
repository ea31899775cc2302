"""Where did unit X go, where did it come from; what a person went through."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.identity.people import get_person
from idhub.models import (
    Assignment,
    ChangeSet,
    ChangeSetPerson,
    OrgUnit,
    OrgUnitLineage,
    Position,
    PostHistory,
    UnitStatus,
)


def _unit_json(unit: OrgUnit) -> dict[str, Any]:
    return {
        "unit_id": str(unit.id),
        "code": unit.code,
        "name": unit.name,
        "status": unit.status.value,
    }


def _walk(session: Session, start: uuid.UUID, on: dt.date, forward: bool) -> list[dict[str, Any]]:
    """Lineage steps reachable from `start` (successors, or predecessors), nearest first."""
    here, there = (
        (OrgUnitLineage.unit_id, OrgUnitLineage.successor_id)
        if forward
        else (OrgUnitLineage.successor_id, OrgUnitLineage.unit_id)
    )
    steps: list[dict[str, Any]] = []
    seen, frontier = {start}, [start]
    while frontier:
        rows = session.execute(
            select(OrgUnitLineage, OrgUnit)
            .join(OrgUnit, OrgUnit.id == there)
            .where(here.in_(frontier), OrgUnitLineage.effective_date <= on)
            .order_by(OrgUnitLineage.effective_date, OrgUnit.code)
        ).all()
        frontier = []
        for link, unit in rows:
            steps.append(
                {
                    **_unit_json(unit),
                    "from_unit_id": str(link.successor_id if not forward else link.unit_id),
                    "kind": link.kind.value,
                    "effective_date": link.effective_date.isoformat(),
                    "decision_ref": link.decision_ref,
                    "change_set_id": str(link.change_set_id) if link.change_set_id else None,
                }
            )
            if unit.id not in seen:
                seen.add(unit.id)
                frontier.append(unit.id)
    return steps


def of_unit(session: Session, unit: OrgUnit, on: dt.date) -> dict[str, Any]:
    went_to = _walk(session, unit.id, on, forward=True)
    came_from = _walk(session, unit.id, on, forward=False)
    ended = {step["from_unit_id"] for step in went_to}
    current = [
        {k: step[k] for k in ("unit_id", "code", "name", "status")}
        for step in went_to
        if step["status"] == UnitStatus.ACTIVE.value and step["unit_id"] not in ended
    ]
    if not went_to and unit.status == UnitStatus.ACTIVE:
        current = [_unit_json(unit)]
    return {
        **_unit_json(unit),
        "went_to": went_to,
        "came_from": came_from,
        "current": list({c["unit_id"]: c for c in current}.values()),
    }


def _decision(change_set: ChangeSet | None, ref: str | None) -> dict[str, Any] | None:
    """The decision behind a post's start or end: the change set's when one did it."""
    if change_set is not None:
        return {
            "decision_ref": change_set.decision_number,
            "decision_date": change_set.decision_date.isoformat(),
            "decision_issuer": change_set.decision_issuer,
            "change_set_id": str(change_set.id),
            "title": change_set.title,
        }
    return {"decision_ref": ref} if ref else None


def _periods(
    post: dict[str, Any], renames: list[PostHistory], start: dt.date, end: dt.date | None
) -> list[dict[str, Any]]:
    """A post cut at each rename of its unit: the name it was held under, period by period."""
    periods: list[dict[str, Any]] = []
    since = start
    for row in sorted(renames, key=lambda r: r.effective_date):
        periods.append(
            {
                "from": since.isoformat(),
                "to": (row.effective_date - dt.timedelta(days=1)).isoformat(),
                "unit_code": row.unit_code,
                "unit_name": row.unit_name,
            }
        )
        since = row.effective_date
    periods.append(
        {
            "from": since.isoformat(),
            "to": end.isoformat() if end else None,
            "unit_code": post["unit_code"],
            "unit_name": post["unit_name"],
        }
    )
    return periods


def of_person(session: Session, person_id: uuid.UUID) -> dict[str, Any]:
    """Every post (quá trình công tác) with its unit, position, dates and the decision that
    started and ended it, reorganisations included; what a change made in place."""
    get_person(session, person_id)
    return {"person_id": str(person_id), **of_people(session, [person_id])[person_id]}


_CHUNK = 900


def of_people(session: Session, person_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The work history of many people in a few statements: {person id: posts, reorganisations}."""
    result: dict[uuid.UUID, dict[str, Any]] = {
        p: {"posts": [], "reorganisations": []} for p in person_ids
    }
    for offset in range(0, len(person_ids), _CHUNK):
        _chunk(session, person_ids[offset : offset + _CHUNK], result)
    return result


def _chunk(session: Session, ids: list[uuid.UUID], result: dict[uuid.UUID, dict[str, Any]]) -> None:
    posts = session.execute(
        select(Assignment, OrgUnit.code, OrgUnit.name, Position.code, Position.name)
        .join(OrgUnit, OrgUnit.id == Assignment.unit_id)
        .join(Position, Position.id == Assignment.position_id)
        .where(Assignment.person_id.in_(ids))
        .order_by(Assignment.start_date, Assignment.id)
    ).all()
    went_through = session.execute(
        select(ChangeSetPerson.person_id, ChangeSet)
        .join(ChangeSet, ChangeSetPerson.change_set_id == ChangeSet.id)
        .where(ChangeSetPerson.person_id.in_(ids))
        .order_by(ChangeSet.effective_date)
    ).all()
    by_id = {c.id: c for _, c in went_through}
    kept: dict[uuid.UUID, list[PostHistory]] = {}
    for row in session.scalars(select(PostHistory).where(PostHistory.person_id.in_(ids))):
        kept.setdefault(row.assignment_id, []).append(row)
    missing = {
        cs
        for a, *_ in posts
        for cs in (a.start_change_set_id, a.end_change_set_id)
        if cs is not None and cs not in by_id
    } | {r.change_set_id for rows in kept.values() for r in rows if r.change_set_id not in by_id}
    if missing:
        by_id.update(
            {c.id: c for c in session.scalars(select(ChangeSet).where(ChangeSet.id.in_(missing)))}
        )
    for a, unit_code, unit_name, position_code, position_name in posts:
        rows = kept.get(a.id, [])
        post = {
            "assignment_id": str(a.id),
            "unit_id": str(a.unit_id),
            "unit_code": unit_code,
            "unit_name": unit_name,
            "position_code": position_code,
            "position_name": position_name,
            "kind": a.kind.value,
            "start_date": a.start_date.isoformat(),
            "end_date": a.end_date.isoformat() if a.end_date else None,
            "decision_ref": a.decision_ref,
            "end_decision_ref": a.end_decision_ref,
            "end_reason": a.end_reason,
            "started_by": _decision(
                by_id.get(a.start_change_set_id) if a.start_change_set_id else None,
                a.decision_ref,
            ),
            "ended_by": _decision(
                by_id.get(a.end_change_set_id) if a.end_change_set_id else None,
                a.end_decision_ref,
            ),
            "changed_in_place": [
                {
                    "kind": r.kind,
                    "effective_date": r.effective_date.isoformat(),
                    "unit_id": str(r.unit_id),
                    "unit_code": r.unit_code,
                    "unit_name": r.unit_name,
                    "to_unit_id": str(r.to_unit_id),
                    **(_decision(by_id.get(r.change_set_id), None) or {}),
                }
                for r in sorted(rows, key=lambda r: r.effective_date)
            ],
        }
        post["periods"] = _periods(
            post, [r for r in rows if r.kind == "renamed"], a.start_date, a.end_date
        )
        result[a.person_id]["posts"].append(post)
    for person_id, c in went_through:
        result[person_id]["reorganisations"].append(
            {
                "change_set_id": str(c.id),
                "title": c.title,
                "decision_number": c.decision_number,
                "decision_date": c.decision_date.isoformat(),
                "decision_issuer": c.decision_issuer,
                "effective_date": c.effective_date.isoformat(),
                "state": c.state.value,
            }
        )
