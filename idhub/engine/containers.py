"""Emptied OUs go: the OU of a retired unit, or one left behind by a move or a rename.

Level-triggered like everything else: each call removes the stale OUs that are empty now
(deepest first); an OU whose people have not moved yet stays until a later call. An OU is
stale when no active unit is placed there: its unit is retired, or the unit's path (codes
of its ancestors, its own code) now leads somewhere else.
"""

from __future__ import annotations

from sqlalchemy import select

from connectors.base import ManagesContainers
from connectors.dn import normalize_dn
from idhub.db import Database
from idhub.identity.snapshots import UnitDirectory
from idhub.models import OrgUnit, UnitStatus
from provisioning.policy import unit_containers


def desired_containers(db: Database, base_dn: str) -> set[str]:
    """Normalised DNs of the OUs of every active unit."""
    with db.transaction() as session:
        directory = UnitDirectory.load(session)
        active = session.scalars(select(OrgUnit.id).where(OrgUnit.status == UnitStatus.ACTIVE))
        return {
            normalize_dn(unit_containers(directory.get(unit_id), base_dn)[-1].name)
            for unit_id in active
        }


def prune_containers(db: Database, connector: ManagesContainers, base_dn: str) -> list[str]:
    """Remove the stale OUs that are empty; returns their DNs."""
    desired = desired_containers(db, base_dn)
    stale = [dn for dn in connector.unit_containers() if normalize_dn(dn) not in desired]
    return connector.remove_empty_containers(stale) if stale else []
