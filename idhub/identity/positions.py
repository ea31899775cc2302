"""The position catalogue (chức vụ / chức danh)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.context import HrContext, apply_changes, nfc_fields, snapshot
from idhub.errors import Conflict, NotFound
from idhub.models import Position


def get_position(session: Session, position_id: uuid.UUID) -> Position:
    position = session.get(Position, position_id)
    if position is None:
        raise NotFound(f"No position with id {position_id}.", code="position_not_found")
    return position


def _check_code_free(session: Session, code: str, except_id: uuid.UUID | None) -> None:
    query = select(Position.id).where(Position.code == code)
    if except_id is not None:
        query = query.where(Position.id != except_id)
    if session.scalar(query) is not None:
        raise Conflict(
            f"A position with the code {code!r} already exists.",
            code="duplicate_position_code",
            details={"code": ["Already used."]},
        )


def create_position(ctx: HrContext, data: dict[str, Any]) -> Position:
    data = nfc_fields(data, ("name",))
    ctx.scope.require_everywhere("the position catalogue / danh mục chức vụ")
    _check_code_free(ctx.session, data["code"], None)
    position = Position(id=uuid.uuid4(), **{"leadership_level": 0, **data})
    ctx.session.add(position)
    ctx.record_create(position, "position.create")
    return position


def update_position(ctx: HrContext, position: Position, changes: dict[str, Any]) -> Position:
    changes = nfc_fields(changes, ("name",))
    ctx.scope.require_everywhere("the position catalogue / danh mục chức vụ")
    before = snapshot(position)
    if "code" in changes:
        _check_code_free(ctx.session, changes["code"], position.id)
    apply_changes(position, changes)
    if ctx.record_change(position, before, "position.update"):
        from idhub.identity.assignments import people_holding

        holders = people_holding(ctx.session, position_id=position.id)
        ctx.converge(holders, f"position {position.code} changed")
    return position
