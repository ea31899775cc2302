"""The plain data the provisioning core works on: HR snapshots in, desired accounts out.

The application shell (idhub/) builds a PersonSnapshot from the HR database; policy turns
it into a DesiredAccount per target; the planner diffs that against what the connector
read (connectors.base.Account) and emits connectors.base.Operations. Nothing here
touches a database, Flask or the network.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class UnitSnapshot:
    """An org unit as policy needs it. `path` is the codes from the root down to this unit
    (inclusive), e.g. ("12", "SNV", "SNV.TCCB"); `mail_domain` is already inherited from
    the nearest ancestor that has one (None when no unit on the path has one)."""

    id: str
    code: str
    name: str
    type: str
    path: tuple[str, ...]
    path_ids: tuple[str, ...]
    path_names: tuple[str, ...]
    mail_domain: str | None
    active: bool = True


class PostKind(StrEnum):
    PRIMARY = "primary"
    CONCURRENT = "concurrent"  # kiêm nhiệm


@dataclass(frozen=True, slots=True)
class PostSnapshot:
    """One assignment: a position held in a unit over a period (end inclusive, None = open)."""

    unit: UnitSnapshot
    position_code: str
    position_name: str
    leadership_level: int
    kind: PostKind
    start: dt.date
    end: dt.date | None = None

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or self.end >= day)


@dataclass(frozen=True, slots=True)
class PastAddress:
    """A mail address the hub gave a person. `superseded_on` is the day it stopped being
    the primary address (None: it still is, as far as the hub recorded)."""

    address: str
    superseded_on: dt.date | None = None


@dataclass(frozen=True, slots=True)
class PersonSnapshot:
    """Everything HR knows about one person that provisioning may use.

    `username` is the identifier allocated once by the hub (naming + reserved names) and
    never reused; `posts` holds all assignments, past, current and future; `today` makes
    policy a pure function of its input.
    """

    id: str
    username: str
    family_name: str
    middle_name: str
    given_name: str
    status: str  # active | suspended | left
    civil_servant_code: str | None
    posts: tuple[PostSnapshot, ...]
    today: dt.date
    # Mail: the addresses the hub gave this person before (old addresses stay aliases
    # for a while), and the address of whoever holds the person's last post now (a
    # leaver's mail may be forwarded there). Filled in by the shell.
    addresses: tuple[PastAddress, ...] = ()
    successor_address: str | None = None

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.family_name, self.middle_name, self.given_name) if p)


class AccountState(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"  # kept, cannot sign in (leaver within retention, suspended)
    ABSENT = "absent"  # should not exist (after retention): delete


@dataclass(frozen=True, slots=True)
class Container:
    """An OU the account's place needs (one per unit on the path), root first."""

    name: str  # DN
    unit_id: str
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DesiredAccount:
    """What one target should hold for a person, with the reasons policy used.

    `attributes` holds only the attributes the hub owns (its range): attributes not named
    here are never touched on the target. `groups` are the names (DNs) of hub-managed
    groups the account must be in; membership in any other hub-managed group is removed,
    groups the hub does not manage are left alone.
    """

    person_id: str
    state: AccountState
    name: str  # DN
    attributes: dict[str, tuple[str, ...]]
    groups: frozenset[str]
    containers: tuple[Container, ...]
    roles: tuple[str, ...] = ()
    app_roles: tuple[str, ...] = ()  # held everywhere
    # (unit code, app role) of the roles bound to a unit (`per_unit` in the rules).
    unit_app_roles: tuple[tuple[str, str], ...] = ()
    quota_class: str | None = None
    reasons: tuple[str, ...] = ()
