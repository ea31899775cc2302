"""What the last reconcile found, kept for those who did not run it (the console's home
lists the drift in each administrator's scope): one small named value in `hub_state`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy.orm import Session

from idhub.models import HubState, utcnow

KEY = "last_reconcile"
KEPT = 5000  # drifted people kept; a reconcile finding more is a matter for the province


def remember(session: Session, report: dict[str, Any]) -> None:
    """Keep a reconcile's findings (in the reconcile's own transaction)."""
    value = {
        "at": utcnow().isoformat(),
        "people": report["people"],
        "in_sync": report["in_sync"],
        "drift": report["drift"],
        "drifted": [
            {"person_id": d["person_id"], "dn": d["dn"], "drift": d["drift"]}
            for d in report["drifted"][:KEPT]
        ],
        "orphans": len(report["orphans"]),
    }
    row = session.get(HubState, KEY) or HubState(key=KEY, value="")
    row.value = json.dumps(value)
    session.add(row)


def last(session: Session) -> dict[str, Any] | None:
    row = session.get(HubState, KEY)
    if row is None:
        return None
    value: dict[str, Any] = json.loads(row.value)
    value["at"] = dt.datetime.fromisoformat(value["at"])
    return value
