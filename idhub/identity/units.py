"""Org units: create, update, and the tree queries (children, subtree, ancestors)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import CTE, Select, literal, select
from sqlalchemy.orm import Session

from idhub.admin_scope.scope import outside
from idhub.changes.context import HrContext, apply_changes, nfc_fields, snapshot
from idhub.errors import Conflict, Invalid, NotFound
from idhub.models import OrgUnit, UnitStatus
from provisioning.naming import search_key

_NAME_FIELDS = ("name", "short_name")


def get_unit(session: Session, unit_id: uuid.UUID) -> OrgUnit:
    unit = session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound(f"No org unit with id {unit_id}.", code="org_unit_not_found")
    return unit


def unit_by_code(session: Session, code: str) -> OrgUnit:
    """The active unit with this code (codes of retired units may be reused)."""
    # No code holds control characters, and PostgreSQL refuses a NUL in a query.
    unit = (
        None
        if "\x00" in code
        else session.scalar(
            select(OrgUnit).where(OrgUnit.code == code, OrgUnit.status == UnitStatus.ACTIVE)
        )
    )
    if unit is None:
        raise NotFound(f"No active unit with code {code!r}.", code="unit_not_found")
    return unit


def _check_code_free(session: Session, code: str, except_id: uuid.UUID | None = None) -> None:
    query = select(OrgUnit.id).where(OrgUnit.code == code, OrgUnit.status == UnitStatus.ACTIVE)
    if except_id is not None:
        query = query.where(OrgUnit.id != except_id)
    if session.scalar(query) is not None:
        raise Conflict(
            f"An active org unit already has the code {code!r}.",
            code="duplicate_unit_code",
            details={"code": [f"{code!r} is already used by an active unit."]},
        )


def _check_parent(session: Session, parent_id: uuid.UUID, unit_id: uuid.UUID | None) -> None:
    parent = session.get(OrgUnit, parent_id)
    if parent is None:
        raise Invalid("The parent unit does not exist.", details={"parent_id": ["Unknown unit."]})
    if parent.status != UnitStatus.ACTIVE:
        raise Invalid(
            "The parent unit is no longer active.", details={"parent_id": ["Unit is not active."]}
        )
    if unit_id is not None and (
        parent_id == unit_id or unit_id in {u.id for u in ancestors(session, parent_id)}
    ):
        raise Invalid(
            "A unit cannot be moved under itself or one of its own sub-units.",
            code="unit_cycle",
            details={"parent_id": ["Would create a cycle in the org tree."]},
        )


def _check_dates(values: dict[str, Any]) -> None:
    start, end = values.get("valid_from"), values.get("valid_to")
    if start and end and end < start:
        raise Invalid(
            "valid_to is before valid_from.",
            details={"valid_to": ["Must not be before valid_from."]},
        )


def create_unit(ctx: HrContext, data: dict[str, Any]) -> OrgUnit:
    data = nfc_fields(data, _NAME_FIELDS)
    _check_dates(data)
    _check_code_free(ctx.session, data["code"])
    if not ctx.scope.everywhere:
        ctx.scope.require(data.get("parent_id"), "the parent unit / đơn vị cấp trên")
    if data.get("parent_id"):
        _check_parent(ctx.session, data["parent_id"], None)
    unit = OrgUnit(id=uuid.uuid4(), status=UnitStatus.ACTIVE, **data)
    unit.search_name = _search_name(unit)
    ctx.session.add(unit)
    ctx.record_create(unit, "org_unit.create")
    return unit


def update_unit(ctx: HrContext, unit: OrgUnit, changes: dict[str, Any]) -> OrgUnit:
    changes = nfc_fields(changes, _NAME_FIELDS)
    before = snapshot(unit)
    _check_dates({**before_dates(unit), **changes})
    if "code" in changes and changes["code"] != unit.code and unit.status == UnitStatus.ACTIVE:
        _check_code_free(ctx.session, changes["code"], unit.id)
    ctx.scope.require(unit.id, "the unit / đơn vị")
    if "parent_id" in changes and changes["parent_id"] != unit.parent_id:
        # A move out of one's subtree (or of its root) is refused.
        ctx.scope.require(changes["parent_id"], "the new parent unit / đơn vị cấp trên mới")
        if unit.id in ctx.scope.roots:
            raise outside("the root of your subtree / gốc phạm vi của bạn")
    if changes.get("parent_id") and changes["parent_id"] != unit.parent_id:
        _check_parent(ctx.session, changes["parent_id"], unit.id)
    apply_changes(unit, changes)
    unit.search_name = _search_name(unit)
    if ctx.record_change(unit, before, "org_unit.update"):
        from idhub.identity.assignments import people_holding

        subtree = [unit.id, *subtree_ids(ctx.session, unit.id)]
        ctx.converge(people_holding(ctx.session, unit_ids=subtree), f"unit {unit.code} changed")
    return unit


def _search_name(unit: OrgUnit) -> str:
    return search_key(" ".join(p for p in (unit.name, unit.short_name) if p))


def before_dates(unit: OrgUnit) -> dict[str, Any]:
    return {"valid_from": unit.valid_from, "valid_to": unit.valid_to}


def _subtree_cte(root_id: uuid.UUID) -> CTE:
    top = select(OrgUnit.id, literal(0).label("depth")).where(OrgUnit.parent_id == root_id)
    tree = top.cte("subtree", recursive=True)
    child = select(OrgUnit.id, (tree.c.depth + 1).label("depth")).join(
        tree, OrgUnit.parent_id == tree.c.id
    )
    return tree.union_all(child)


def subtree_query(root_id: uuid.UUID) -> Select[OrgUnit]:
    """All units below root (not root itself), breadth first."""
    tree = _subtree_cte(root_id)
    return (
        select(OrgUnit)
        .join(tree, OrgUnit.id == tree.c.id)
        .order_by(tree.c.depth, OrgUnit.code, OrgUnit.id)
    )


def subtree_ids(session: Session, root_id: uuid.UUID) -> list[uuid.UUID]:
    return list(session.scalars(select(_subtree_cte(root_id).c.id)))


def ancestors(session: Session, unit_id: uuid.UUID) -> list[OrgUnit]:
    """From the root down to the unit's parent."""
    chain: list[OrgUnit] = []
    seen: set[uuid.UUID] = set()
    current = session.get(OrgUnit, unit_id)
    while current is not None and current.parent_id is not None and current.parent_id not in seen:
        seen.add(current.parent_id)
        current = session.get(OrgUnit, current.parent_id)
        if current is not None:
            chain.append(current)
    chain.reverse()
    return chain
