"""The provisioning rules file (config/rules.toml): positions → roles → entitlements.

``load_rules(path)`` reads and validates the TOML file; ``parse_rules(mapping)`` validates
an already parsed mapping. Both return a frozen :class:`Rules` or raise
:class:`RulesError` listing *every* problem with its location in the file
(``roles.leader.quota: unknown quota class 'huge'``), so the province's IT staff fix
the file in one go.

What the rules say (see the comments in config/rules.toml for the operator's view):

* ``default_roles``: roles of every enabled account;
* ``[positions]``: position code → roles, for every active post (primary or concurrent);
* ``[[leadership]]``: every threshold whose ``min_level`` the post's leadership level
  reaches adds its roles (thresholds are cumulative: a level-6 post gets the roles of
  ``min_level = 1`` *and* of ``min_level = 3``);
* ``[unit_types.<type>]``: roles for every active post in a unit of that type;
* ``unit_groups``: every enabled account is in ``unit-<unit code, lower-cased>`` for each
  unit where it holds an active post;
* a role carries groups, a quota class and application roles. When several roles name
  a quota class, the class with the **largest size** wins (two classes may not have
  the same size, so the rule never needs a tie-break).
"""

from __future__ import annotations

import datetime as dt
import re
import string
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from provisioning.naming import DEFAULT_PATTERN, PATTERNS

__all__ = [
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

UNIT_TYPES: tuple[str, ...] = (
    "province_committee",
    "province_council",
    "department",
    "department_division",
    "commune_committee",
    "district_committee",
    "public_service_unit",
    "other",
)
"""The org unit types HR knows (mirror of idhub.models.hr.UnitType; a test keeps them in
step). `[unit_types.<type>]` must name one of them, so a typo cannot silently match
nobody."""

GROUP_NAME = re.compile(r"[a-z0-9][a-z0-9.-]*")
ROLE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
APP_ROLE = re.compile(r"[a-z0-9][a-z0-9._-]*:[a-z0-9][a-z0-9._-]*")
MAX_NAME_LENGTH = 64


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


LEAVER_MAIL_ACTIONS = ("forward", "bounce")
FORWARD_TARGETS = ("successor", "unit")
DEFAULT_BOUNCE = "{name} <{address}> no longer works here; this mail was not delivered."
BOUNCE_FIELDS = ("name", "address")
LOCAL_PART = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_BOUNCE_LENGTH = 400


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


SEAT_PREFIX = re.compile(r"[a-z0-9]{1,24}")


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


# --------------------------------------------------------------------------- parsing


_ABSENT: Mapping[str, Any] = MappingProxyType({})  # stands in for a missing or broken table


class _Checker:
    """Collects problems while reading a mapping; never stops at the first."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def error(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}" if where else message)

    def table(self, data: Any, where: str, required: bool = True) -> Mapping[str, Any]:
        """The table, or an empty stand-in (whose missing keys are not reported again)."""
        if data is None:
            if required:
                self.error(where, "missing table")
            return _ABSENT
        if not isinstance(data, Mapping):
            self.error(where, f"must be a table, not {_kind(data)}")
            return _ABSENT
        return data

    def keys(self, data: Mapping[str, Any], where: str, allowed: Collection[str]) -> None:
        for key in data:
            if key not in allowed:
                self.error(_join(where, key), f"unknown key (expected one of: {_list(allowed)})")

    def string(
        self, data: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str | None:
        loc = _join(where, key)
        if key not in data:
            if default is None and data is not _ABSENT:
                self.error(loc, "missing")
            return default
        value = data[key]
        if not isinstance(value, str):
            self.error(loc, f"must be a string, not {_kind(value)}")
            return default
        return value

    def integer(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        default: int | None = None,
        minimum: int = 0,
    ) -> int | None:
        loc = _join(where, key)
        if key not in data:
            if default is None and data is not _ABSENT:
                self.error(loc, "missing")
            return default
        return self.integer_value(data[key], loc, minimum, default)

    def integer_value(
        self, value: Any, loc: str, minimum: int, default: int | None = None
    ) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(loc, f"must be an integer, not {_kind(value)}")
            return default
        if value < minimum:
            what = "non-negative" if minimum == 0 else f"at least {minimum}"
            self.error(loc, f"must be {what}, got {value}")
            return default
        return value

    def boolean(
        self, data: Mapping[str, Any], key: str, where: str, default: bool | None = None
    ) -> bool | None:
        loc = _join(where, key)
        if key not in data:
            if default is None and data is not _ABSENT:
                self.error(loc, "missing")
            return default
        value = data[key]
        if not isinstance(value, bool):
            self.error(loc, f"must be true or false, not {_kind(value)}")
            return default
        return value

    def strings(self, data: Mapping[str, Any], key: str, where: str) -> list[tuple[str, str]]:
        """A list of strings (missing = empty) as (location, value) pairs; duplicates refused."""
        loc = _join(where, key)
        value = data.get(key, [])
        if not isinstance(value, list):
            self.error(loc, f"must be a list of strings, not {_kind(value)}")
            return []
        out: list[tuple[str, str]] = []
        seen: set[str] = set()
        for i, item in enumerate(value):
            item_loc = f"{loc}[{i}]"
            if not isinstance(item, str):
                self.error(item_loc, f"must be a string, not {_kind(item)}")
            elif item in seen:
                self.error(item_loc, f"{item!r} is listed twice")
            else:
                seen.add(item)
                out.append((item_loc, item))
        return out

    def role_refs(
        self, data: Mapping[str, Any], key: str, where: str, roles: Collection[str]
    ) -> tuple[str, ...]:
        out: list[str] = []
        for loc, name in self.strings(data, key, where):
            if name not in roles:
                self.error(loc, f"unknown role {name!r}")
            else:
                out.append(name)
        return tuple(out)


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _list(names: Iterable[str]) -> str:
    return ", ".join(sorted(names))


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _join(where: str, key: str) -> str:
    part = key if _BARE_KEY.fullmatch(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{where}.{part}" if where else part


def _name(check: _Checker, loc: str, value: str, pattern: re.Pattern[str], what: str) -> bool:
    if len(value) > MAX_NAME_LENGTH or not pattern.fullmatch(value):
        check.error(
            loc,
            f"invalid {what} {value!r} (expected {pattern.pattern}, "
            f"at most {MAX_NAME_LENGTH} characters)",
        )
        return False
    return True


def _container_name(check: _Checker, loc: str, value: str | None) -> None:
    if value is None:
        return
    if not value.strip() or value != value.strip():
        check.error(
            loc, f"must be a non-empty name without leading or trailing spaces, got {value!r}"
        )


_TOP_KEYS = (
    "default_roles", "unit_groups", "naming", "directory", "leaver", "joiner", "mail",
    "seats", "quotas", "roles", "positions", "leadership", "unit_types",
)  # fmt: skip
_MAIL_KEYS = (
    "old_address_days", "old_addresses_until", "leaver_action", "leaver_forward_to",
    "leaver_forward_days", "unit_mailbox", "leaver_bounce_message",
)  # fmt: skip


def _mail_rules(check: _Checker, top: Mapping[str, Any]) -> MailRules:
    """The optional [mail] table (defaults: MailRules())."""
    table = check.table(top.get("mail"), "mail", required=False)
    check.keys(table, "mail", _MAIL_KEYS)
    d = MailRules()
    old_days = check.integer(table, "old_address_days", "mail", default=d.old_address_days)
    until: dt.date | None = None
    if "old_addresses_until" in table:
        raw = table["old_addresses_until"]
        if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
            until = raw
        elif isinstance(raw, str):
            try:
                until = dt.date.fromisoformat(raw)
            except ValueError:
                check.error("mail.old_addresses_until", f"not a date (YYYY-MM-DD): {raw!r}")
        else:
            check.error("mail.old_addresses_until", f"must be a date, not {_kind(raw)}")
    action = check.string(table, "leaver_action", "mail", default=d.leaver_action)
    if action not in LEAVER_MAIL_ACTIONS:
        check.error(
            "mail.leaver_action",
            f"unknown action {action!r} (known: {', '.join(LEAVER_MAIL_ACTIONS)})",
        )
    if "leaver_forward_to" in table:
        forward_to = []
        for loc, target in check.strings(table, "leaver_forward_to", "mail"):
            if target not in FORWARD_TARGETS:
                check.error(loc, f"unknown target {target!r} (known: {', '.join(FORWARD_TARGETS)})")
            else:
                forward_to.append(target)
        forward = tuple(forward_to)
    else:
        forward = d.leaver_forward_to
    forward_days = check.integer(
        table, "leaver_forward_days", "mail", default=d.leaver_forward_days
    )
    unit_mailbox = check.string(table, "unit_mailbox", "mail", default="") or ""
    if unit_mailbox and not LOCAL_PART.fullmatch(unit_mailbox):
        check.error(
            "mail.unit_mailbox",
            f"must be the local part of an address ({LOCAL_PART.pattern}), got {unit_mailbox!r}",
        )
    if "unit" in forward and not unit_mailbox and "leaver_forward_to" in table:
        check.error("mail.leaver_forward_to", '"unit" needs mail.unit_mailbox')
    message = (
        check.string(table, "leaver_bounce_message", "mail", default=d.leaver_bounce_message)
        or d.leaver_bounce_message
    )
    _bounce_message(check, message)
    return MailRules(
        old_address_days=old_days if old_days is not None else d.old_address_days,
        old_addresses_until=until,
        leaver_action=action if action in LEAVER_MAIL_ACTIONS else d.leaver_action,
        leaver_forward_to=forward,
        leaver_forward_days=forward_days if forward_days is not None else d.leaver_forward_days,
        unit_mailbox=unit_mailbox,
        leaver_bounce_message=message,
    )


def _seat_rules(
    check: _Checker,
    top: Mapping[str, Any],
    quotas: Mapping[str, QuotaClass],
    others: Collection[str],
) -> SeatRules:
    """The optional [seats] table (defaults: SeatRules(), no seats)."""
    table = check.table(top.get("seats"), "seats", required=False)
    check.keys(table, "seats", ("ou", "quota", "positions"))
    ou = check.string(table, "ou", "seats", default=SeatRules.ou) or SeatRules.ou
    _container_name(check, "seats.ou", ou)
    if ou.casefold() in {o.casefold() for o in others}:
        check.error("seats.ou", f"must differ from directory.groups_ou and former_ou, got {ou!r}")
    quota = check.string(table, "quota", "seats", default="") or None
    if quota is not None and quota not in quotas:
        check.error(
            "seats.quota", f"unknown quota class {quota!r} (known: {_list(quotas) or 'none'})"
        )
        quota = None
    positions_in = check.table(table.get("positions"), "seats.positions", required=False)
    positions: dict[str, str] = {}
    for code, prefix in positions_in.items():
        loc = _join("seats.positions", code)
        if not isinstance(prefix, str) or not SEAT_PREFIX.fullmatch(prefix):
            check.error(loc, f"must be a local-part prefix ({SEAT_PREFIX.pattern}), got {prefix!r}")
            continue
        positions[code] = prefix
    return SeatRules(MappingProxyType(positions), ou, quota)


def _bounce_message(check: _Checker, message: str) -> None:
    loc = "mail.leaver_bounce_message"
    if len(message) > MAX_BOUNCE_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in message):
        check.error(loc, f"must be one line of at most {MAX_BOUNCE_LENGTH} characters")
        return
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(message) if name is not None}
    except ValueError as exc:
        check.error(loc, f"invalid template: {exc}")
        return
    unknown = sorted(fields - set(BOUNCE_FIELDS))
    if unknown:
        check.error(loc, f"unknown field(s) {unknown} (known: {', '.join(BOUNCE_FIELDS)})")


def parse_rules(mapping: Mapping[str, Any], *, source: str | None = None) -> Rules:
    """Validate a parsed rules mapping (e.g. from tomllib). Raises RulesError with every
    problem found; `source` (a file name) only decorates the message."""
    check = _Checker()
    top = check.table(mapping, "")
    check.keys(top, "", _TOP_KEYS)

    naming = check.table(top.get("naming"), "naming", required=False)
    check.keys(naming, "naming", ("pattern",))
    pattern = check.string(naming, "pattern", "naming", default=DEFAULT_PATTERN)
    if pattern is not None and pattern not in PATTERNS:
        check.error("naming.pattern", f"unknown pattern {pattern!r} (known: {', '.join(PATTERNS)})")

    directory = check.table(top.get("directory"), "directory")
    check.keys(directory, "directory", ("groups_ou", "former_ou"))
    groups_ou = check.string(directory, "groups_ou", "directory")
    former_ou = check.string(directory, "former_ou", "directory")
    _container_name(check, "directory.groups_ou", groups_ou)
    _container_name(check, "directory.former_ou", former_ou)
    if groups_ou and former_ou and groups_ou.casefold() == former_ou.casefold():
        check.error("directory.former_ou", "must differ from directory.groups_ou")

    leaver = check.table(top.get("leaver"), "leaver")
    check.keys(leaver, "leaver", ("retention_days", "delete_after_retention"))
    retention_days = check.integer(leaver, "retention_days", "leaver")
    delete_after = check.boolean(leaver, "delete_after_retention", "leaver")

    joiner = check.table(top.get("joiner"), "joiner", required=False)
    check.keys(joiner, "joiner", ("prehire_days",))
    prehire_days = check.integer(joiner, "prehire_days", "joiner", default=0)

    # Quotas: name = bytes; ranked by size.
    quotas_in = check.table(top.get("quotas"), "quotas")
    sizes: dict[str, int] = {}
    for name, value in quotas_in.items():
        loc = _join("quotas", name)
        if not _name(check, loc, name, ROLE_NAME, "quota class name"):
            continue
        size = check.integer_value(value, loc, minimum=1)
        if size is None:
            continue
        twin = next((other for other, s in sizes.items() if s == size), None)
        if twin is not None:
            check.error(
                loc,
                f"same size as quotas.{twin} ({size} bytes): the larger class "
                "wins when several apply, so sizes must differ",
            )
            continue
        sizes[name] = size
    if not quotas_in and "quotas" in top:
        check.error("quotas", "define at least one quota class")
    ranked = sorted(sizes.items(), key=lambda item: item[1])
    quotas = {name: QuotaClass(name, size, rank) for rank, (name, size) in enumerate(ranked)}

    # Roles first (everything else refers to them). A role whose own fields are broken
    # still counts as defined, so references to it are not reported twice.
    roles_in = check.table(top.get("roles"), "roles")
    roles: dict[str, Role] = {}
    for name, body in roles_in.items():
        loc = _join("roles", name)
        _name(check, loc, name, ROLE_NAME, "role name")
        table = check.table(body, loc)
        check.keys(table, loc, ("groups", "quota", "app_roles", "description"))
        groups = tuple(
            g
            for gloc, g in check.strings(table, "groups", loc)
            if _name(check, gloc, g, GROUP_NAME, "group name")
        )
        app_roles = tuple(
            a
            for aloc, a in check.strings(table, "app_roles", loc)
            if _name(check, aloc, a, APP_ROLE, "application role")
        )
        quota: str | None = None
        if "quota" in table:
            quota = check.string(table, "quota", loc)
            if quota is not None and quota not in quotas and quota not in quotas_in:
                check.error(
                    _join(loc, "quota"),
                    f"unknown quota class {quota!r} (known: {_list(quotas_in) or 'none'})",
                )
                quota = None
            elif quota not in quotas:
                quota = None  # the class itself is broken and already reported
        description = check.string(table, "description", loc, default="") or ""
        roles[name] = Role(
            name, tuple(sorted(groups)), quota, tuple(sorted(app_roles)), description
        )

    default_roles = check.role_refs(top, "default_roles", "", roles)

    positions_in = check.table(top.get("positions"), "positions", required=False)
    positions: dict[str, tuple[str, ...]] = {}
    for code, refs in positions_in.items():
        loc = _join("positions", code)
        if not code.strip():
            check.error(loc, "empty position code")
        if not isinstance(refs, list):
            check.error(loc, f"must be a list of role names, not {_kind(refs)}")
            continue
        positions[code] = check.role_refs(positions_in, code, "positions", roles)

    leadership_in = top.get("leadership", [])
    leadership: list[LeadershipRule] = []
    if not isinstance(leadership_in, list):
        check.error(
            "leadership", f"must be an array of tables ([[leadership]]), not {_kind(leadership_in)}"
        )
        leadership_in = []
    seen_levels: set[int] = set()
    for i, entry in enumerate(leadership_in):
        loc = f"leadership[{i}]"
        table = check.table(entry, loc)
        check.keys(table, loc, ("min_level", "roles"))
        level = check.integer(table, "min_level", loc)
        refs = check.role_refs(table, "roles", loc, roles)
        if level is None:
            continue
        if level in seen_levels:
            check.error(_join(loc, "min_level"), f"min_level {level} appears twice")
            continue
        seen_levels.add(level)
        leadership.append(LeadershipRule(level, refs))

    unit_types_in = check.table(top.get("unit_types"), "unit_types", required=False)
    unit_types: dict[str, tuple[str, ...]] = {}
    for type_name, body in unit_types_in.items():
        loc = _join("unit_types", type_name)
        if type_name not in UNIT_TYPES:
            check.error(loc, f"unknown unit type (known: {', '.join(UNIT_TYPES)})")
        table = check.table(body, loc)
        check.keys(table, loc, ("roles",))
        unit_types[type_name] = check.role_refs(table, "roles", loc, roles)

    unit_groups = check.boolean(top, "unit_groups", "", default=False)
    mail = _mail_rules(check, top)
    seats = _seat_rules(check, top, quotas, [o for o in (groups_ou, former_ou) if o])

    if check.problems:
        raise RulesError(check.problems, source)
    assert pattern is not None and groups_ou is not None and former_ou is not None
    assert retention_days is not None and delete_after is not None
    assert prehire_days is not None and unit_groups is not None
    return Rules(
        naming=NamingRules(pattern),
        directory=DirectoryRules(groups_ou, former_ou),
        leaver=LeaverRules(retention_days, delete_after),
        joiner=JoinerRules(prehire_days),
        mail=mail,
        seats=seats,
        quotas=MappingProxyType(quotas),
        roles=MappingProxyType(roles),
        default_roles=default_roles,
        positions=MappingProxyType(positions),
        leadership=tuple(sorted(leadership, key=lambda r: r.min_level)),
        unit_types=MappingProxyType(unit_types),
        unit_groups=unit_groups,
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
