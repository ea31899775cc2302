"""Where the policy puts entries: one OU per unit on the org path, the former-staff OU and
the hub's groups OU, with the DNs of the groups in it. Pure and cached: every person
planned asks for the same few containers."""

from __future__ import annotations

import functools

from connectors.dn import child_dn
from provisioning.attributes import TRUE, nfc, values
from provisioning.model import Container, UnitSnapshot
from provisioning.rules import Rules

__all__ = [
    "FORMER_DESCRIPTION",
    "FORMER_OBJECT_CLASSES",
    "UNIT_OBJECT_CLASSES",
    "former_container",
    "group_dn",
    "groups_container_dn",
    "unit_container_dn",
    "unit_containers",
]

UNIT_OBJECT_CLASSES = ("organizationalUnit", "idhubOrgUnit")
FORMER_OBJECT_CLASSES = ("organizationalUnit",)
FORMER_DESCRIPTION = "Former staff"


@functools.lru_cache(maxsize=4096)  # pure, and a batch places hundreds of people per unit
def unit_containers(unit: UnitSnapshot, base_dn: str) -> tuple[Container, ...]:
    """One container per unit on the unit's path, root first."""
    if not unit.path or not len(unit.path) == len(unit.path_ids) == len(unit.path_names):
        raise ValueError(
            f"unit {unit.code!r}: path, path_ids and path_names must be non-empty and of "
            f"equal length, got {unit.path!r}, {unit.path_ids!r}, {unit.path_names!r}"
        )
    containers: list[Container] = []
    parent = base_dn
    for code, unit_id, name in zip(unit.path, unit.path_ids, unit.path_names, strict=True):
        parent = child_dn("ou", nfc(code), parent)
        containers.append(
            Container(
                name=parent,
                unit_id=unit_id,
                attributes={
                    "objectClass": UNIT_OBJECT_CLASSES,
                    "ou": values(code),
                    "description": values(name),
                    "idhubUnitId": values(unit_id),
                    "idhubManaged": (TRUE,),
                },
            )
        )
    return tuple(containers)


def unit_container_dn(unit: UnitSnapshot, base_dn: str) -> str:
    return unit_containers(unit, base_dn)[-1].name


def former_container(rules: Rules, base_dn: str) -> Container:
    """``ou=<former_ou>,<base_dn>``: leavers' accounts during retention."""
    return _former(rules.directory.former_ou, base_dn)


@functools.lru_cache(maxsize=64)  # asked for every person planned; read only
def _former(former_ou: str, base_dn: str) -> Container:
    return Container(
        name=child_dn("ou", former_ou, base_dn),
        unit_id="",
        attributes={
            "objectClass": FORMER_OBJECT_CLASSES,
            "ou": values(former_ou),
            "description": (FORMER_DESCRIPTION,),
        },
    )


def groups_container_dn(rules: Rules, base_dn: str) -> str:
    return child_dn("ou", rules.directory.groups_ou, base_dn)


def group_dn(name: str, rules: Rules, base_dn: str) -> str:
    """``cn=<name>,ou=<groups_ou>,<base_dn>``."""
    return _group_dn(name, rules.directory.groups_ou, base_dn)


@functools.lru_cache(maxsize=4096)  # a few dozen groups, asked for by every person
def _group_dn(name: str, groups_ou: str, base_dn: str) -> str:
    return child_dn("cn", name, child_dn("ou", groups_ou, base_dn))
