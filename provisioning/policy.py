"""Policy: what the LDAP directory should hold for one person (a pure function).

``desired_account(person, rules, base_dn=...)`` turns an HR snapshot and the rules into a
:class:`~provisioning.model.DesiredAccount`: state, DN, the hub-owned attributes, groups,
roles, quota class and the reasons for each decision. Same input, same output: no
clock (``person.today`` is the date), no database, no network.

It composes the mappings of :mod:`provisioning.mappings`, each the only owner of its
range (see their docstrings for the rules they apply):

* lifecycle: state, placement, DN, containers, ``idhubAccountStatus``;
* identity: names, object classes, the placement post's title / department / ou;
* entitlements: roles, groups, application roles, quota class (enabled accounts only);
* mail: address, mailbox, quota bytes, aliases, a leaver's forward or bounce.

Containers mirror the org tree (``ou=SNV.TCCB,ou=SNV,ou=12,<base_dn>``), one per unit
on the path, root first (:mod:`provisioning.containers`).
"""

from __future__ import annotations

from provisioning.attributes import nfc
from provisioning.containers import (
    FORMER_DESCRIPTION,
    UNIT_OBJECT_CLASSES,
    group_dn,
    groups_container_dn,
    unit_container_dn,
    unit_containers,
)
from provisioning.mappings import entitlements, identity, lifecycle, mail
from provisioning.mappings.entitlements import unit_group_name
from provisioning.mappings.identity import PERSON_OBJECT_CLASSES
from provisioning.mappings.mail import mailbox_location
from provisioning.model import AccountState, DesiredAccount, PersonSnapshot
from provisioning.rules import Rules

__all__ = [
    "FORMER_DESCRIPTION",
    "PERSON_OBJECT_CLASSES",
    "UNIT_OBJECT_CLASSES",
    "desired_account",
    "group_dn",
    "groups_container_dn",
    "mailbox_location",
    "unit_container_dn",
    "unit_containers",
    "unit_group_name",
]

# The order of the attributes (the planner and the audit follow it). Each mapping fills
# its own keys in a copy, so the order costs no sorting per person. A disabled account
# has no idhubMailQuota: it keeps whatever quota it had (the hub does not own it then).
_ENABLED_LAYOUT: dict[str, tuple[str, ...]] = dict.fromkeys(
    (
        "objectClass", "uid", "cn", "sn", "givenName", "displayName", "mail", "title",
        "departmentNumber", "ou", "employeeNumber", "idhubPersonId", "idhubAccountStatus",
        "idhubManaged", "idhubMailbox", "idhubMailQuota", "idhubMailAlias",
        "idhubMailForward", "idhubMailBounce",
    ),
    (),
)  # fmt: skip
_DISABLED_LAYOUT = {k: v for k, v in _ENABLED_LAYOUT.items() if k != "idhubMailQuota"}


def desired_account(person: PersonSnapshot, rules: Rules, *, base_dn: str) -> DesiredAccount:
    """What the directory should hold for `person` (see the module docstring)."""
    if not person.username:
        raise ValueError(f"person {person.id}: no username allocated")
    if not person.id:
        raise ValueError("person without an id")
    username = nfc(person.username)
    life = lifecycle.lifecycle(person, rules)
    name, containers = lifecycle.place(life, username, rules, base_dn)
    if life.state is AccountState.ABSENT:
        return DesiredAccount(
            person_id=person.id,
            state=life.state,
            name=name,
            attributes={},
            groups=frozenset(),
            containers=(),
            reasons=tuple(life.reasons),
        )

    grants = entitlements.entitlements(life, rules, base_dn)
    mail_attributes, mail_reasons = mail.mail(person, username, rules, life, grants.quota_class)
    enabled = life.state is AccountState.ENABLED
    attributes = (_ENABLED_LAYOUT if enabled else _DISABLED_LAYOUT).copy()
    attributes.update(identity.identity(person, username, life.placement))
    attributes.update(lifecycle.status(life))
    attributes.update(mail_attributes)
    return DesiredAccount(
        person_id=person.id,
        state=life.state,
        name=name,
        attributes=attributes,
        groups=grants.groups,
        containers=containers,
        roles=grants.roles,
        app_roles=grants.app_roles,
        unit_app_roles=grants.unit_app_roles,
        quota_class=grants.quota_class,
        reasons=tuple(dict.fromkeys((*life.reasons, *grants.reasons, *mail_reasons))),
    )
