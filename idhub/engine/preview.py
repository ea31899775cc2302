"""Dry run: what converging one person would change, and why (the same computation, not applied)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.engine.targets.ldap import compute_plans
from idhub.errors import NotFound
from idhub.models import Person
from idhub.services import Directory
from provisioning.planner import describe
from provisioning.rules import Rules


def resolve_person(session: Session, ref: str | uuid.UUID) -> uuid.UUID:
    """A person id from an id or a username."""
    if isinstance(ref, uuid.UUID):
        person_id = session.scalar(select(Person.id).where(Person.id == ref))
    else:
        try:
            person_id = session.scalar(select(Person.id).where(Person.id == uuid.UUID(ref)))
        except ValueError:
            person_id = session.scalar(select(Person.id).where(Person.username == ref))
    if person_id is None:
        raise NotFound(f"No person {ref}.", code="person_not_found")
    return person_id


def preview_person(
    session: Session, connector: Directory, rules: Rules, ref: str | uuid.UUID, *, base_dn: str
) -> dict:
    person_id = resolve_person(session, ref)
    (p,) = compute_plans(session, connector, rules, [person_id], base_dn=base_dn)
    desired = p.desired
    return {
        "person_id": str(person_id),
        "target": "ldap",
        "in_sync": not p.operations,
        "desired": {
            "state": desired.state.value,
            "dn": desired.name,
            "roles": list(desired.roles),
            "groups": sorted(desired.groups),
            "app_roles": list(desired.app_roles),
            "quota_class": desired.quota_class,
            "attributes": {k: list(v) for k, v in sorted(desired.attributes.items())},
            "reasons": list(desired.reasons),
        },
        "actual": None
        if p.actual is None
        else {
            "dn": p.actual.name,
            "attributes": {k: list(v) for k, v in sorted(p.actual.attributes.items())},
            "groups": sorted(p.actual.groups or ()),
        },
        "operations": describe(p.operations),
    }
