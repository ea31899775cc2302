"""Giving the test's person an administrative role, as `idhub admin grant` does."""

from __future__ import annotations

import datetime as dt
import uuid

from idhub.admin.grants import everywhere, grant_role
from idhub.changes.chain import Actor
from idhub.changes.context import HrContext


def grant(app, person_id: str, role: str, unit_id: str | None = None) -> None:  # type: ignore[no-untyped-def]
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        ctx = HrContext(session=session, audit=hub.audit, actor=Actor("cli", "test"), reason="test")
        grant_role(
            ctx,
            {
                "person_id": uuid.UUID(person_id),
                "role": role,
                "unit_id": uuid.UUID(unit_id) if unit_id else None,
                "valid_from": dt.date.today() - dt.timedelta(days=1),
                "valid_to": None,
                "reason": "test",
            },
            everywhere,
        )
