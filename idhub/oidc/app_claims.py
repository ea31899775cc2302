"""The `roles` scope's claims for one app: its own application roles, per unit, delegated.

A client registered as an app (`oauth_client.app_key`, `idhub client create --app
meeting`) receives only the "<app>:<role>" roles of that app:

* ``app_roles``: the roles held everywhere, e.g. ``["meeting:user"]``;
* ``app_roles_by_unit``: the roles bound to a unit (``per_unit`` in the rules), by unit
  code, e.g. ``{"XA.TAMDUONG": ["meeting:chair"]}``;
* ``delegated_app_roles``: what a delegation (ủy quyền) gives today, each with who gave
  it, so the app can show "thay mặt …"; these roles are also in the two claims above,
  so an app that ignores delegation still honours it.

A client without an app key gets no application roles. `roles` and `groups` (hub-wide
names) go only to a client with `hub_roles` on (docs/sso.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.identity import app_delegations
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import AppDelegation, OAuthClient, Person, PersonStatus
from idhub.services import current_hub
from provisioning.app_roles import AppRoles, delegated_roles, merge, roles_for_app
from provisioning.model import DesiredAccount
from provisioning.policy import desired_account
from provisioning.rules import Rules

APP_CLAIMS = ("app_roles", "app_roles_by_unit", "delegated_app_roles")


def client_app(session: Session, client_id: str) -> OAuthClient | None:
    return session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def _desired(
    session: Session, person: Person, today: dt.date, rules: Rules, base_dn: str
) -> DesiredAccount | None:
    if not person.username or person.status is not PersonStatus.ACTIVE:
        return None
    snapshot = person_snapshots(session, [person], UnitDirectory.load(session), today)[person.id]
    return desired_account(snapshot, rules, base_dn=base_dn)


def delegated_to(
    session: Session,
    deputy: Person,
    app: str,
    today: dt.date,
    rules: Rules | None = None,
    base_dn: str | None = None,
) -> list[tuple[AppDelegation, Person, AppRoles]]:
    """The delegations the deputy holds today in `app`, with the delegator and what each
    gives (the delegator's own roles today: a delegator who lost a role passes none)."""
    if rules is None or base_dn is None:
        hub = current_hub()
        rules, base_dn = hub.rules, hub.connectors.base_dn
    found = []
    for row in app_delegations.received_on(session, deputy.id, today):
        if row.app != app:
            continue
        delegator = session.get(Person, row.delegator_id)
        if delegator is None:
            continue
        desired = _desired(session, delegator, today, rules, base_dn)
        if desired is None:
            continue
        given = delegated_roles(desired, app_delegations.spec(row), today)
        if not given.is_empty():
            found.append((row, delegator, given))
    return found


def app_claims(
    session: Session,
    person: Person,
    desired: DesiredAccount,
    app: str | None,
    today: dt.date,
) -> dict[str, Any]:
    """The three claims of the module docstring (empty for a client without an app)."""
    if not app:
        return {"app_roles": [], "app_roles_by_unit": {}, "delegated_app_roles": []}
    own = roles_for_app(desired, app)
    delegated = delegated_to(session, person, app, today)
    everything = merge([own, *(given for _, _, given in delegated)])
    by_unit: dict[str, list[str]] = {}
    for unit, role in everything.by_unit:
        by_unit.setdefault(unit, []).append(role)
    described = []
    for row, delegator, given in delegated:
        base = {
            "delegated_from": {
                "sub": str(delegator.id),
                "username": delegator.username,
                "name": delegator.full_name,
            },
            "start": row.start_date.isoformat(),
            "end": row.end_date.isoformat(),
            "reason": row.reason,
        }
        described += [{"role": r, "unit": None, **base} for r in given.everywhere]
        described += [{"role": r, "unit": u, **base} for u, r in given.by_unit]
    return {
        "app_roles": list(everything.everywhere),
        "app_roles_by_unit": by_unit,
        "delegated_app_roles": described,
    }
