"""Personal data (Nghị định 13/2023/NĐ-CP): the one door for finding a person by CCCD and
for recording who read whose personal fields.

Every lookup by CCCD goes through `cccd_clause` / `cccd_in`, so how the CCCD is stored
(today a plain column) can change in one place. Every page, API or export that shows a
person's CCCD, date of birth or personal contact calls `note_personal_read`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from idhub.changes.chain import Actor
from idhub.models import Person

# The fields of a person that are personal data under the decree.
PERSONAL_FIELDS = ("national_id", "date_of_birth", "personal_email", "personal_phone")


def cccd_clause(cccd: str) -> Any:
    """A WHERE clause matching the person with this CCCD."""
    return Person.national_id == cccd


def cccd_in(cccds: Iterable[str]) -> Any:
    """A WHERE clause matching the people with any of these CCCDs."""
    return Person.national_id.in_(list(cccds))


def note_personal_read(
    actor: Actor, person_ids: Iterable[uuid.UUID], fields: Iterable[str], door: str
) -> None:
    """Record that `actor` saw `fields` of these people through `door` (e.g. "api",
    "console", "scim", "national_export"). Not recorded yet: the personal-data work
    (issue #20) stores these reads and shows them to the person."""
    del actor, person_ids, fields, door
