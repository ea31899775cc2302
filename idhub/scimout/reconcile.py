"""`idhub client scim-reconcile`: read the app's users (paged) and queue whatever differs
from what the hub holds — a user the hub does not know of is deactivated there, a person
the hub thinks is there but is not is created again, everyone else is converged."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from idhub.changes.chain import Actor, AuditLog
from idhub.db import Database
from idhub.models import ScimState
from idhub.scimout.remote import AppClient
from idhub.scimout.subscriptions import queue_everyone
from idhub.scimout.target import TIMEOUT_S, load_apps
from idhub.services import Hub


@dataclass
class Reconciled:
    listed: int = 0
    missing: list[str] = field(default_factory=list)  # hub's remote ids gone from the app
    extra: list[str] = field(default_factory=list)  # the app's users the hub does not know
    queued: int = 0


def reconcile(hub: Hub, db: Database, audit: AuditLog, actor: Actor, client_id: str) -> Reconciled:
    with db.reading() as session:
        app = load_apps(session, hub).get(client_id)
        if app is None:
            from idhub.errors import NotFound

            raise NotFound(f"Client {client_id} has no SCIM endpoint.", code="no_scim_subscription")
        known = {
            s.remote_id: s.person_id
            for s in session.scalars(select(ScimState).where(ScimState.client_id == client_id))
            if s.remote_id
        }
    result = Reconciled()
    client = AppClient(app.url, app.token, TIMEOUT_S)
    try:
        remote: dict[str, tuple[str, bool]] = {}
        for remote_id, user_name, active in client.users():
            remote[remote_id] = (user_name, active)
        result.listed = len(remote)
        for remote_id, (_, active) in remote.items():
            if remote_id not in known and active:
                # Not the hub's: deactivated as it came (a PATCH of `active` alone).
                client.scim.modify(
                    "User",
                    remote_id,
                    {
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{"op": "replace", "path": "active", "value": False}],
                    },
                    check_request_payload=False,
                    url=f"/Users/{remote_id}",
                )
                result.extra.append(remote_id)
    finally:
        client.close()
    result.missing = [r for r in known if r not in remote]
    with db.transaction() as session:
        for remote_id in result.missing:
            state = session.get(ScimState, (client_id, known[remote_id]))
            if state is not None:  # created again by the next round
                state.remote_id = state.etag = None
                state.projection, state.active = None, False
        result.queued = queue_everyone(session, client_id, f"SCIM reconcile of {client_id}")
        audit.record(
            session,
            actor=actor,
            action="client.scim_reconcile",
            object_type="client",
            object_id=client_id,
            after={"listed": result.listed, "missing": len(result.missing), "extra": result.extra},
        )
    return result


__all__ = ["Reconciled", "reconcile"]
