"""Họp trực tuyến (meetings): the signed-in person's meeting roles per unit, delegation
honoured.

The hub gives this app (registered with `--app meeting`) only the "meeting:<role>" roles:
`app_roles` (held everywhere), `app_roles_by_unit` (e.g. chair of commune X's meetings)
and `delegated_app_roles` (what a deputy holds today on someone's behalf, with who gave
it). A delegated role is in `app_roles_by_unit` too; this page says on whose behalf.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from examples.rp_base import Kind, escape

LABELS = {"meeting:chair": "Chủ trì họp", "meeting:user": "Dự họp", "meeting:admin": "Quản trị"}


def _day(iso: str) -> str:
    return dt.date.fromisoformat(iso).strftime("%d/%m/%Y")


def home(user: dict[str, Any]) -> str:
    delegated = {(d["role"], d.get("unit")): d for d in user.get("delegated_app_roles") or []}
    items = []
    for unit, roles in sorted((user.get("app_roles_by_unit") or {}).items()):
        for role in roles:
            text = f"{LABELS.get(role, role)} · {unit}"
            given = delegated.get((role, unit))
            if given is not None:
                who = given["delegated_from"]
                text += f" — thay mặt {who.get('name') or who.get('username')}"
                text += f" (đến {_day(given['end'])})"
            kind = "delegated" if given is not None else "own"
            items.append(
                f"<li class='meeting-role {kind}' data-unit='{escape(unit)}' "
                f"data-role='{escape(role)}'>{escape(text)}</li>"
            )
    general = [LABELS.get(r, r) for r in user.get("app_roles") or []]
    return (
        "<section id='meetings'><h2>Vai trò trong họp</h2>"
        f"<p id='general'>{escape(', '.join(general))}</p>"
        f"<ul id='by-unit'>{''.join(items) or '<li>Không chủ trì cuộc họp nào.</li>'}</ul>"
        "</section>"
    )


KIND = Kind(name="meetings", home=home)
