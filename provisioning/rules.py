"""The provisioning rules (idhub/defaults/rules.toml) as typed, frozen objects, and their lookups.

``load_rules(path)`` reads and validates the TOML file; ``parse_rules(mapping)`` validates
an already parsed mapping against the schema in :mod:`provisioning.rules_schema`. Both
return a frozen :class:`Rules` or raise :class:`RulesError` listing *every* problem with
its location in the file (``roles.leader.quota: unknown quota class 'huge'``), so the
province's IT staff fix the file in one go.

What the rules say (see the comments in idhub/defaults/rules.toml for the operator's view):

* ``default_roles``: roles of every enabled account;
* ``[positions]``: position code → roles, for every active post (primary or concurrent);
* ``[[leadership]]``: every threshold whose ``min_level`` the post's leadership level
  reaches adds its roles (thresholds are cumulative: a level-6 post gets the roles of
  ``min_level = 1`` *and* of ``min_level = 3``);
* ``[unit_types.<type>]``: roles for every active post in a unit of that type;
* ``[admin_posts]``: position code → administrative roles (``hr_officer``, …) the holder
  of such a post has over the subtree of the post's unit, while the post is held;
* ``unit_groups``: every enabled account is in ``unit-<unit code, lower-cased>`` for each
  unit where it holds an active post;
* a role carries groups, a quota class and application roles ("<app>:<role>"); with
  ``per_unit = true`` its application roles are held for the unit of each post that
  gives the role ("meeting:chair" of commune X), see :mod:`provisioning.app_roles`.
  When several roles name
  a quota class, the class with the **largest size** wins (two classes may not have
  the same size, so the rule never needs a tie-break).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from provisioning.naming import DEFAULT_PATTERN
from provisioning.rules_schema import (
    ADMIN_ROLES,
    DEFAULT_BOUNCE,
    FORWARD_TARGETS,
    UNIT_TYPES,
    read_rules,
)

__all__ = [
    "ADMIN_ROLES",
    "UNIT_TYPES",
    "DirectoryRules",
    "JoinerRules",
    "LeadershipRule",
    "LeaverRules",
    "MailRules",
    "NamingRules",
    "QuotaClass",
    "Role",
    "Rules",
    "RulesError",
    "SeatRules",
    "load_rules",
    "parse_rules",
]


class RulesError(ValueError):
    """The rules are invalid; `problems` holds one "location: message" line each."""

    def __init__(self, problems: Iterable[str], source: str | None = None) -> None:
        self.problems: tuple[str, ...] = tuple(problems)
        self.source = source
        head = f"invalid rules in {source}" if source else "invalid rules"
        super().__init__(f"{head}:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True, slots=True)
class QuotaClass:
    """A mailbox quota class; `rank` 0 is the smallest (the largest size wins)."""

    name: str
    bytes: int
    rank: int


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    groups: tuple[str, ...] = ()
    quota: str | None = None
    app_roles: tuple[str, ...] = ()
    description: str = ""
    # The app roles are held for the unit of the post that gave the role, not everywhere.
    per_unit: bool = False


@dataclass(frozen=True, slots=True)
class LeadershipRule:
    """Posts with leadership_level >= min_level get `roles`."""

    min_level: int
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NamingRules:
    pattern: str = DEFAULT_PATTERN  # one of provisioning.naming.PATTERNS


@dataclass(frozen=True, slots=True)
class DirectoryRules:
    groups_ou: str = "groups"  # ou=<groups_ou>,<base>: hub-managed groups
    former_ou: str = "former"  # ou=<former_ou>,<base>: leavers' accounts


@dataclass(frozen=True, slots=True)
class LeaverRules:
    retention_days: int = 90
    delete_after_retention: bool = True


@dataclass(frozen=True, slots=True)
class JoinerRules:
    prehire_days: int = 0


@dataclass(frozen=True, slots=True)
class MailRules:
    """[mail]: old addresses kept as aliases, and what happens to a leaver's mail.

    * an address that stops being a person's primary one (rename of a mail domain, move
      to a unit of another domain) keeps delivering for `old_address_days` after the
      change, and at least until `old_addresses_until` when that date is set;
    * a leaver's mail (within retention, for at most `leaver_forward_days` after the
      last post ended) is forwarded to the first of `leaver_forward_to` that exists —
      "successor" (whoever holds the leaver's last post now), "unit" (the address
      `unit_mailbox`@<domain of that post's unit>) — with `leaver_action = "forward"`;
      otherwise, or afterwards, it is refused with `leaver_bounce_message` ({name} and
      {address} filled in; folded to ASCII, as SMTP replies are).
    """

    old_address_days: int = 365
    old_addresses_until: dt.date | None = None
    leaver_action: str = "forward"
    leaver_forward_to: tuple[str, ...] = FORWARD_TARGETS
    leaver_forward_days: int = 90
    unit_mailbox: str = ""
    leaver_bounce_message: str = DEFAULT_BOUNCE


def _empty() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class SeatRules:
    """[seats]: mailboxes that belong to a post (a position in a unit), not to a person.

    `positions` maps a position code to the local-part prefix of its seats ("CT_UBND_XA"
    → "chutich": chutich.<unit>@<domain of the unit>); whoever holds the post today,
    primary or concurrent, reads the seat's mailbox. Seat entries live in
    ou=<ou>,<base>; `quota` is the class of their mailboxes (None: no quota).
    """

    positions: Mapping[str, str] = field(default_factory=_empty)
    ou: str = "seats"
    quota: str | None = None


@dataclass(frozen=True)
class Rules:
    """Validated rules, one attribute per section of the file (``rules.naming.pattern``,
    ``rules.leaver.retention_days``, …). Mappings are read-only; every role and quota
    class they mention exists. Change a copy with ``dataclasses.replace``."""

    naming: NamingRules = field(default_factory=NamingRules)
    directory: DirectoryRules = field(default_factory=DirectoryRules)
    leaver: LeaverRules = field(default_factory=LeaverRules)
    joiner: JoinerRules = field(default_factory=JoinerRules)
    mail: MailRules = field(default_factory=MailRules)
    seats: SeatRules = field(default_factory=SeatRules)
    quotas: Mapping[str, QuotaClass] = field(default_factory=_empty)  # smallest first
    roles: Mapping[str, Role] = field(default_factory=_empty)
    default_roles: tuple[str, ...] = ()
    positions: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    leadership: tuple[LeadershipRule, ...] = ()  # by min_level, lowest first
    unit_types: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)
    unit_groups: bool = False
    # Position code → administrative roles its holder has over the post's unit subtree.
    admin_posts: Mapping[str, tuple[str, ...]] = field(default_factory=_empty)

    def best_quota(self, classes: Iterable[str]) -> str | None:
        """The largest of these quota classes, or None for none."""
        known = [self.quotas[c] for c in classes]
        return max(known, key=lambda q: q.rank).name if known else None

    def quota_bytes(self, name: str) -> int:
        return self.quotas[name].bytes

    def unknown_positions(self, known_codes: Collection[str]) -> tuple[str, ...]:
        """Position codes the rules map that HR does not know (likely typos); the shell
        can show them as warnings, since HR's position table lives in the database."""
        return tuple(sorted(code for code in self.positions if code not in known_codes))


# --------------------------------------------------------------------------- reading


def parse_rules(mapping: Mapping[str, Any], *, source: str | None = None) -> Rules:
    """Validate a parsed rules mapping (e.g. from tomllib) against the schema of
    :mod:`provisioning.rules_schema`. Raises RulesError with every problem found;
    `source` (a file name) only decorates the message."""
    values, problems = read_rules(mapping)
    if problems:
        raise RulesError(problems, source)
    return _rules(values)


def _rules(v: dict[str, Any]) -> Rules:
    """The typed rules from the schema's validated values (keyed like the file)."""
    ranked = sorted(v["quotas"].items(), key=lambda item: item[1])
    seats = v["seats"]
    return Rules(
        naming=NamingRules(**v["naming"]),
        directory=DirectoryRules(**v["directory"]),
        leaver=LeaverRules(**v["leaver"]),
        joiner=JoinerRules(**v["joiner"]),
        mail=MailRules(**v["mail"]),
        seats=SeatRules(MappingProxyType(dict(seats["positions"])), seats["ou"], seats["quota"]),
        quotas=MappingProxyType(
            {name: QuotaClass(name, size, rank) for rank, (name, size) in enumerate(ranked)}
        ),
        roles=MappingProxyType(
            {
                name: Role(
                    name,
                    tuple(sorted(body["groups"])),
                    body["quota"],
                    tuple(sorted(body["app_roles"])),
                    body["description"],
                    body["per_unit"],
                )
                for name, body in v["roles"].items()
            }
        ),
        default_roles=v["default_roles"],
        positions=MappingProxyType(dict(v["positions"])),
        leadership=tuple(LeadershipRule(e["min_level"], e["roles"]) for e in v["leadership"]),
        unit_types=MappingProxyType({t: body["roles"] for t, body in v["unit_types"].items()}),
        unit_groups=v["unit_groups"],
        admin_posts=MappingProxyType(dict(v["admin_posts"])),
    )


def load_rules(path: str | Path) -> Rules:
    """Read and validate a rules file. RulesError for unreadable, malformed (with TOML's
    line and column) or invalid content."""
    source = str(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise RulesError([f"cannot read the file: {exc.strerror or exc}"], source) from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError([f"not valid TOML: {exc}"], source) from exc
    return parse_rules(data, source=source)
