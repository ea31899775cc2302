"""Change sets: create, edit, check, apply (now or on the effective date), progress.

Applying writes the effect the pure core worked out (provisioning/reorg.py) in the
caller's transaction: units created, retired with their lineage, re-parented, renamed;
every post that moves ended the day before the effective date and started again in its
new unit (history is kept, the decision is named on both); the converge jobs of every
person whose posts or place changed. The workers do the rest.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from idhub.changes.chain import Change
from idhub.changes.context import HrContext, snapshot, snapshot_values
from idhub.errors import Conflict, Invalid, NotFound
from idhub.identity.assignments import people_holding
from idhub.identity.personal import blind, cccd_in
from idhub.identity.units import subtree_ids
from idhub.models import (
    AccountLink,
    Assignment,
    AssignmentKind,
    ChangeSet,
    ChangeSetPerson,
    ChangeSetState,
    JobState,
    LinkState,
    OrgUnit,
    OrgUnitLineage,
    Person,
    ProvisioningJob,
    UnitStatus,
    UnitType,
    utcnow,
)
from idhub.reorg.history import keep_history, keep_renamed
from idhub.reorg.schemas import core_operations, stored
from provisioning import reorg
from provisioning.naming import search_key

_CHUNK = 900
_EDITABLE = (ChangeSetState.DRAFT, ChangeSetState.SCHEDULED)


def get_change_set(session: Session, change_set_id: uuid.UUID) -> ChangeSet:
    change_set = session.get(ChangeSet, change_set_id)
    if change_set is None:
        raise NotFound(f"No change set with id {change_set_id}.", code="change_set_not_found")
    return change_set


def _within_scope(ctx: HrContext, change_set: ChangeSet) -> None:
    """A subtree administrator's draft reaches only their subtree: every existing unit it
    retires, moves, renames, sends people to or puts new units under."""
    if ctx.scope.everywhere:
        return
    effect = check(ctx.session, change_set)
    reached = {
        *effect.units,
        *(parent for parent in effect.parents.values() if parent),
        *(parent for _, parent in effect.new_units.values() if parent),
        *(move.to_unit for move in effect.post_moves if move.to_unit),
        *(successor for _, successor, _, _ in effect.lineage),
    } - set(effect.new_units)
    for unit in sorted(reached):
        ctx.scope.require(uuid.UUID(unit), "a unit the change set reaches / đơn vị bị tác động")


def create_change_set(ctx: HrContext, data: dict[str, Any]) -> ChangeSet:
    change_set = ChangeSet(
        id=uuid.uuid4(),
        state=ChangeSetState.DRAFT,
        owner_unit_id=ctx.scope.home,
        **{**data, "operations": stored(data["operations"])},
    )
    _within_scope(ctx, change_set)
    ctx.session.add(change_set)
    ctx.record_create(change_set, "changeset.create")
    return change_set


def update_change_set(ctx: HrContext, change_set: ChangeSet, changes: dict[str, Any]) -> ChangeSet:
    if change_set.state not in _EDITABLE:
        raise Conflict(
            f"The change set is {change_set.state.value}; it can no longer be edited.",
            code="change_set_closed",
        )
    before = snapshot(change_set)
    if "operations" in changes:
        changes = {**changes, "operations": stored(changes["operations"])}
    for key, value in changes.items():
        setattr(change_set, key, value)
    change_set.state = ChangeSetState.DRAFT  # edited: schedule it again after a new check
    _within_scope(ctx, change_set)
    ctx.record_change(change_set, before, "changeset.update")
    return change_set


# -- checking ------------------------------------------------------------------------------
def _people_resolver(session: Session, operations: list[dict[str, Any]]) -> Any:
    """People in a split may be named by id, username or national ID."""
    refs = {ref for op in operations for ref in (op.get("people") or {})}
    known: dict[str, str] = {}
    if refs:
        ids = []
        for ref in refs:
            try:
                ids.append(uuid.UUID(ref))
            except ValueError:
                continue
        rows = session.execute(
            select(Person.id, Person.username, Person.national_id_index).where(
                or_(
                    Person.id.in_(ids),
                    Person.username.in_(list(refs)),
                    cccd_in(refs),
                )
            )
        )
        by_index = {blind(session, ref): ref for ref in refs if ref.isdigit()}
        for person_id, username, index in rows:
            for ref in (str(person_id), username, by_index.get(index)):
                if ref is not None and ref in refs:
                    known[ref] = str(person_id)
    return lambda ref: known.get(ref, ref)


def _tree(session: Session) -> list[reorg.Unit]:
    rows = session.execute(
        select(
            OrgUnit.id,
            OrgUnit.code,
            OrgUnit.name,
            OrgUnit.type,
            OrgUnit.parent_id,
            OrgUnit.status,
            OrgUnit.mail_domain,
            OrgUnit.valid_from,
        )
    )
    return [
        reorg.Unit(
            str(uid),
            code,
            name,
            kind.value,
            str(parent) if parent else None,
            active=status == UnitStatus.ACTIVE,
            mail_domain=domain,
            valid_from=since,
        )
        for uid, code, name, kind, parent, status, domain, since in rows
    ]


def _posts(session: Session, effective: dt.date) -> list[reorg.Post]:
    """Every assignment not over before the effective date."""
    rows = session.execute(
        select(
            Assignment.id,
            Assignment.person_id,
            Assignment.unit_id,
            Assignment.position_id,
            Assignment.kind,
            Assignment.start_date,
            Assignment.end_date,
        ).where(or_(Assignment.end_date.is_(None), Assignment.end_date >= effective))
    )
    return [
        reorg.Post(str(a), str(p), str(u), str(pos), kind.value, start, end)
        for a, p, u, pos, kind, start, end in rows
    ]


def check(session: Session, change_set: ChangeSet) -> reorg.Effect:
    """Every problem of the change set against the org data as it is now, or its effect."""
    operations = core_operations(
        change_set.operations, _people_resolver(session, change_set.operations)
    )
    return reorg.work_out(
        operations,
        _tree(session),
        _posts(session, change_set.effective_date),
        change_set.effective_date,
        lambda: str(uuid.uuid4()),
    )


def problems_error(effect: reorg.Effect) -> Invalid:
    return Invalid(
        f"The change set has {len(effect.problems)} problem(s); nothing was applied.",
        code="change_set_invalid",
        details={"problems": [problem_json(p) for p in effect.problems]},
    )


def problem_json(problem: reorg.Problem) -> dict[str, Any]:
    return {"operation": problem.operation, "code": problem.code, "message": problem.message}


# -- applying --------------------------------------------------------------------------------
def schedule(ctx: HrContext, change_set: ChangeSet) -> ChangeSet:
    """Apply on the effective date (the daily sweep does it); checked now as well."""
    ctx.scope.require_everywhere("reorganisations / sắp xếp tổ chức")
    _must_be_open(change_set)
    effect = check(ctx.session, change_set)
    if not effect.ok:
        raise problems_error(effect)
    before = snapshot(change_set)
    change_set.state = ChangeSetState.SCHEDULED
    ctx.record_change(change_set, before, "changeset.schedule")
    return change_set


def cancel(ctx: HrContext, change_set: ChangeSet) -> ChangeSet:
    ctx.scope.require(change_set.owner_unit_id, "the change set / phương án")
    _must_be_open(change_set)
    before = snapshot(change_set)
    change_set.state = ChangeSetState.CANCELLED
    ctx.record_change(change_set, before, "changeset.cancel")
    return change_set


def _must_be_open(change_set: ChangeSet) -> None:
    if change_set.state not in _EDITABLE:
        raise Conflict(
            f"The change set is already {change_set.state.value}.", code="change_set_closed"
        )


def apply(ctx: HrContext, change_set: ChangeSet, today: dt.date | None = None) -> dict[str, int]:
    """Apply now, in the caller's transaction; returns the counts kept as its summary."""
    ctx.scope.require_everywhere("apply a reorganisation / áp dụng sắp xếp tổ chức")
    _must_be_open(change_set)
    today = today or dt.date.today()
    if change_set.effective_date > today:
        raise Conflict(
            f"The change set takes effect on {change_set.effective_date.isoformat()}; "
            "schedule it instead of applying it now.",
            code="change_set_not_due",
        )
    effect = check(ctx.session, change_set)
    if not effect.ok:
        raise problems_error(effect)
    people = write_effect(ctx, change_set, effect)
    before = snapshot(change_set)
    summary = {
        "units_created": len(effect.new_units),
        "units_retired": len(effect.retired),
        "units_moved": len(effect.parents),
        "units_renamed": len(effect.renames),
        "posts_moved": sum(1 for m in effect.post_moves if m.to_unit is not None),
        "posts_ended": sum(1 for m in effect.post_moves if m.to_unit is None),
        # Every post closed on the eve (moved ones start again in their new unit).
        "posts_closed": sum(1 for m in effect.post_moves if not m.in_place),
        "posts_repointed": sum(1 for m in effect.post_moves if m.in_place),
        "people": len(people),
    }
    change_set.state = ChangeSetState.APPLIED
    change_set.applied_at = utcnow()
    change_set.summary = summary
    ctx.record_change(change_set, before, "changeset.apply")
    return summary


def write_effect(ctx: HrContext, change_set: ChangeSet, effect: reorg.Effect) -> set[uuid.UUID]:
    """Write the org changes, move the posts, queue the converges; the people affected.

    Set-based (a province-wide reform moves thousands of posts): a few statements per
    kind of change, one audit event per changed row, all in the caller's transaction.
    """
    session, now = ctx.session, utcnow()
    eve = change_set.effective_date - dt.timedelta(days=1)
    changes: list[Change] = []
    units = {
        u.id: u
        for u in session.scalars(select(OrgUnit).where(OrgUnit.id.in_(_uuids(effect.units))))
    }

    # Retire first: a new unit may take the code of one it replaces.
    for unit_id, status in effect.retired.items():
        unit = units[uuid.UUID(unit_id)]
        before = snapshot(unit)
        unit.status = UnitStatus(status)
        unit.valid_to = eve
        changes.append(_changed(unit, before, "org_unit.retire"))
    session.flush()
    for unit_id, (spec, parent) in effect.new_units.items():
        unit = OrgUnit(
            id=uuid.UUID(unit_id),
            code=spec.code,
            name=spec.name,
            short_name=spec.short_name,
            type=UnitType(spec.type),
            parent_id=uuid.UUID(parent) if parent else None,
            mail_domain=spec.mail_domain,
            valid_from=change_set.effective_date,
            status=UnitStatus.ACTIVE,
            version=1,
            created_at=now,
            updated_at=now,
        )
        unit.search_name = search_key(" ".join(p for p in (unit.name, unit.short_name) if p))
        session.add(unit)
        units[unit.id] = unit
        changes.append(Change("org_unit.create", "org_unit", unit.id, after=snapshot(unit)))
    session.flush()
    for unit_id, parent in effect.parents.items():
        unit = units[uuid.UUID(unit_id)]
        if unit_id in effect.retired:
            continue
        before = snapshot(unit)
        unit.parent_id = uuid.UUID(parent) if parent else None
        changes.append(_changed(unit, before, "org_unit.move"))
    keep_renamed(session, change_set, [units[uuid.UUID(u)] for u in effect.renames], now)
    for unit_id, rename in effect.renames.items():
        unit = units[uuid.UUID(unit_id)]
        before = snapshot(unit)
        for field in ("name", "code", "short_name", "mail_domain"):
            value = getattr(rename, field)
            if value is not None:
                setattr(unit, field, value)
        unit.search_name = search_key(" ".join(p for p in (unit.name, unit.short_name) if p))
        changes.append(_changed(unit, before, "org_unit.update"))
    lineage: list[dict[str, Any]] = [
        {
            "unit_id": uuid.UUID(unit_id),
            "successor_id": uuid.UUID(successor),
            "kind": kind,
            "effective_date": change_set.effective_date,
            "decision_ref": change_set.decision_number,
            "change_set_id": change_set.id,
        }
        for unit_id, successor, kind, _ in effect.lineage
    ]
    if lineage:
        session.execute(insert(OrgUnitLineage), lineage)
        changes.extend(
            Change(
                "org_unit.lineage",
                "org_unit",
                row["unit_id"],
                after={
                    "kind": row["kind"],
                    "successor_id": str(row["successor_id"]),
                    "effective_date": row["effective_date"].isoformat(),
                },
            )
            for row in lineage
        )
    session.flush()

    changes.extend(_move_posts(session, change_set, effect, eve, now))
    ctx.audit.record_many(session, actor=ctx.actor, changes=changes, reason=change_set.reason)

    # Everyone whose posts moved, and everyone below a unit that moved or was renamed.
    people = {uuid.UUID(p) for p in effect.people}
    changed_units = [uuid.UUID(u) for u in {*effect.parents, *effect.renames}]
    subtree = set(changed_units)
    for changed_unit in changed_units:
        subtree.update(subtree_ids(session, changed_unit))
    if subtree:
        people |= people_holding(session, unit_ids=subtree)
    if people:
        ctx.converge(people, "reorganisation")
        session.execute(
            insert(ChangeSetPerson),
            [{"change_set_id": change_set.id, "person_id": p} for p in sorted(people)],
        )
    return people


def _changed(obj: Any, before: dict[str, Any], action: str) -> Change:
    after = snapshot(obj)
    changed = [k for k in after if before.get(k) != after.get(k)]
    return Change(
        action,
        obj.__tablename__,
        obj.id,
        before={k: before.get(k) for k in changed},
        after={k: after[k] for k in changed},
    )


def _uuids(values: Iterable[str]) -> list[uuid.UUID]:
    return [uuid.UUID(v) for v in values]


def _move_posts(
    session: Session,
    change_set: ChangeSet,
    effect: reorg.Effect,
    eve: dt.date,
    now: dt.datetime,
) -> list[Change]:
    """End each moving post on the eve of the effective date and start it again in its
    new unit (a post that starts later is re-pointed instead)."""
    changes: list[Change] = []
    ending = [m for m in effect.post_moves if not m.in_place]
    for offset in range(0, len(ending), _CHUNK):
        ids = _uuids(m.post.id for m in ending[offset : offset + _CHUNK])
        session.execute(
            update(Assignment)
            .where(Assignment.id.in_(ids))
            .values(
                end_date=eve,
                end_decision_ref=change_set.decision_number,
                end_reason=change_set.title,
                end_change_set_id=change_set.id,
                updated_at=now,
                version=Assignment.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
    new_rows = []
    for move in ending:
        post = move.post
        changes.append(
            Change(
                "assignment.end",
                "assignment",
                post.id,
                before={"end_date": post.end.isoformat() if post.end else None},
                after={
                    "end_date": eve.isoformat(),
                    "end_decision_ref": change_set.decision_number,
                    "end_reason": change_set.title,
                },
            )
        )
        if move.to_unit is None:
            continue
        new_rows.append(
            {
                "id": uuid.uuid4(),
                "person_id": uuid.UUID(post.person_id),
                "unit_id": uuid.UUID(move.to_unit),
                "position_id": uuid.UUID(post.position_id),
                "kind": AssignmentKind(post.kind),
                "start_date": change_set.effective_date,
                "end_date": post.end,
                "decision_ref": change_set.decision_number,
                "end_decision_ref": None,
                "end_reason": None,
                "start_change_set_id": change_set.id,
                "end_change_set_id": None,
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
        )
    if new_rows:
        session.execute(insert(Assignment), new_rows)
        changes.extend(
            Change(
                "assignment.create",
                "assignment",
                row["id"],
                after=snapshot_values(Assignment, row),
            )
            for row in new_rows
        )
    in_place = [m for m in effect.post_moves if m.in_place]
    keep_history(session, change_set, "repointed", [(m.post, m.to_unit) for m in in_place], now)
    for move in in_place:
        assert move.to_unit is not None  # in place means it has somewhere to go
        session.execute(
            update(Assignment)
            .where(Assignment.id == uuid.UUID(move.post.id))
            .values(
                unit_id=uuid.UUID(move.to_unit),
                decision_ref=change_set.decision_number,
                start_change_set_id=change_set.id,
                updated_at=now,
                version=Assignment.version + 1,
            )
            .execution_options(synchronize_session=False)
        )
        changes.append(
            Change(
                "assignment.update",
                "assignment",
                move.post.id,
                before={"unit_id": move.post.unit_id},
                after={"unit_id": move.to_unit, "decision_ref": change_set.decision_number},
            )
        )
    return changes


def apply_due(ctx: HrContext, today: dt.date) -> list[uuid.UUID]:
    """Apply the scheduled change sets whose effective date has come (the daily sweep)."""
    due = list(
        ctx.session.scalars(
            select(ChangeSet)
            .where(
                ChangeSet.state == ChangeSetState.SCHEDULED,
                ChangeSet.effective_date <= today,
            )
            .order_by(ChangeSet.effective_date, ChangeSet.created_at)
        )
    )
    for change_set in due:
        apply(ctx, change_set, today)
    return [c.id for c in due]


# -- progress ----------------------------------------------------------------------------------
def progress(session: Session, change_set: ChangeSet) -> dict[str, Any]:
    """How far the directory has followed: people converged since the apply, pending, failed."""
    people = select(ChangeSetPerson.person_id).where(ChangeSetPerson.change_set_id == change_set.id)
    total = session.scalar(select(func.count()).select_from(people.subquery())) or 0
    waiting = dict(
        session.execute(
            select(ProvisioningJob.state, func.count(func.distinct(ProvisioningJob.subject_id)))
            .where(ProvisioningJob.subject_id.in_(people))
            .group_by(ProvisioningJob.state)
        ).all()
    )
    failed_links = session.scalar(
        select(func.count()).where(
            AccountLink.person_id.in_(people), AccountLink.state == LinkState.FAILED
        )
    )
    failed = max(waiting.get(JobState.FAILED, 0), failed_links or 0)
    pending = sum(waiting.get(s, 0) for s in (JobState.PENDING, JobState.RUNNING))
    held = waiting.get(JobState.HELD, 0)
    return {
        "state": change_set.state.value,
        "people": total,
        "done": max(0, total - pending - held - failed) if change_set.applied_at else 0,
        "pending": pending,
        "held": held,
        "failed": failed,
    }
