"""Identity mapping: who the account is (names, object classes, person key) and the post
it is placed by (title, departmentNumber, ou).

A leaver keeps cn/sn/employeeNumber but loses title, departmentNumber and ou: they
describe a post no longer held.
"""

from __future__ import annotations

from provisioning.attributes import TRUE, nfc, values
from provisioning.model import PersonSnapshot, PostSnapshot

__all__ = ["PERSON_OBJECT_CLASSES", "RANGE", "identity"]

PERSON_OBJECT_CLASSES = ("inetOrgPerson", "idhubPerson")

RANGE = (
    "objectClass", "uid", "cn", "sn", "givenName", "displayName", "title",
    "departmentNumber", "ou", "employeeNumber", "idhubPersonId", "idhubManaged",
)  # fmt: skip


def identity(
    person: PersonSnapshot, username: str, placement: PostSnapshot | None
) -> dict[str, tuple[str, ...]]:
    """The identity attributes of an account that exists; `username` is already NFC."""
    full_name = nfc(person.full_name) or username
    if placement is not None:
        unit = placement.unit
        title, department, ou = (
            values(placement.position_name),
            values(unit.code),
            values(unit.name),
        )
    else:
        title = department = ou = ()
    return {
        "objectClass": PERSON_OBJECT_CLASSES,
        "uid": (username,),
        "cn": (full_name,),
        "sn": values(person.family_name or person.given_name or username),
        "givenName": values(person.given_name),
        "displayName": (full_name,),
        "title": title,
        "departmentNumber": department,
        "ou": ou,
        "employeeNumber": values(person.civil_servant_code),
        "idhubPersonId": (person.id,),
        "idhubManaged": (TRUE,),
    }
