"""The schema of the rules file (idhub/defaults/rules.toml): every table described once.

Each table is a :class:`Table` of :class:`Field` entries (type, required or default,
allowed values, names defined elsewhere in the file it refers to, an extra check), read
by one generic reader that collects *every* problem as "location: message"
(``roles.leader.quota: unknown quota class 'huge' (known: ...)``) and never stops at
the first. :func:`read_rules` returns plain validated values, keyed like the file (and
like the fields of the objects in :mod:`provisioning.rules`, which builds them).

One mistake, one message: a value that fails is dropped, a table that is missing or not
a table reads as empty without reporting its keys again, and a role or quota class that
is defined but broken still counts as defined for the references to it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import string
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from provisioning.naming import DEFAULT_PATTERN, PATTERNS

__all__ = [
    "BOUNCE_FIELDS",
    "DEFAULT_BOUNCE",
    "FORWARD_TARGETS",
    "LEAVER_MAIL_ACTIONS",
    "RULES",
    "UNIT_TYPES",
    "Field",
    "Table",
    "read_rules",
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
# "<app>:<role>": the app key is ASCII (it names an OAuth client's app); the role part may
# use Vietnamese letters ("document:văn-thư"), lower-case and NFC, as apps show it.
APP_ROLE = re.compile(r"[a-z0-9][a-z0-9._-]*:[^\W_A-Z][^\WA-Z]*(?:[.-][^\W_A-Z][^\WA-Z]*)*")
MAX_NAME_LENGTH = 64
LEAVER_MAIL_ACTIONS = ("forward", "bounce")
FORWARD_TARGETS = ("successor", "unit")
# Administrative roles a post may carry over its own unit's subtree ([admin_posts]).
ADMIN_ROLES = ("province_admin", "hr_officer", "security_officer", "auditor", "app_owner")
DEFAULT_BOUNCE = "{name} <{address}> no longer works here; this mail was not delivered."
BOUNCE_FIELDS = ("name", "address")
LOCAL_PART = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_BOUNCE_LENGTH = 400
SEAT_PREFIX = re.compile(r"[a-z0-9]{1,24}")

# --------------------------------------------------------------------------- the schema

STRING, INTEGER, BOOLEAN, DATE, STRINGS, TABLE, TABLES, MAP = (
    "string", "integer", "boolean", "date", "strings", "table", "tables", "map",
)  # fmt: skip

Problems = list[str]
Check = Callable[[Problems, str, Any, Any], Any]
"""An extra check: (problems, location, value read, raw value) → the value to keep
(None drops it); it reports what it finds with :func:`problem`."""


@dataclasses.dataclass(frozen=True)
class Field:
    """One key of a table. `type` is one of STRING … MAP; a STRINGS field is a list of
    strings without duplicates; a MAP is a table of names → `item` values."""

    type: str
    required: bool = False  # "missing" when absent (only in a table that is there)
    default: Any = None
    blank_is_default: bool = False  # "" reads as the default
    minimum: int = 0  # INTEGER
    choices: tuple[str, ...] = ()  # STRING / STRINGS items: the allowed values
    what: str = ""  # the noun for a value outside `choices`, a bad name or a bad list
    refs: str = ""  # STRING / STRINGS items: names of this MAP defined earlier
    show_known: bool = False  # an unknown reference lists the names defined
    list_of: str = "strings"  # STRINGS: what the list holds, for a value not a list
    check: Check | None = None
    item_check: Check | None = None  # STRINGS: each item
    table: Table | None = None  # TABLE, TABLES: each entry's table
    item: Field | None = None  # MAP: each value
    key: Callable[[Problems, str, str], bool] | None = None  # MAP: check a name; False drops
    defines: str = ""  # MAP: others refer to its names by this


@dataclasses.dataclass(frozen=True)
class Table:
    fields: Mapping[str, Field]
    checks: tuple[Callable[[Problems, str, dict[str, Any], Mapping[str, Any]], None], ...] = ()


def problem(problems: Problems, where: str, message: str) -> None:
    problems.append(f"{where}: {message}" if where else message)


def _name(pattern: re.Pattern[str], what: str) -> Callable[[Problems, str, str], bool]:
    def check(problems: Problems, loc: str, value: str) -> bool:
        if len(value) > MAX_NAME_LENGTH or not pattern.fullmatch(value):
            problem(
                problems,
                loc,
                f"invalid {what} {value!r} (expected {pattern.pattern}, "
                f"at most {MAX_NAME_LENGTH} characters)",
            )
            return False
        return True

    return check


def _name_check(pattern: re.Pattern[str], what: str) -> Check:
    name = _name(pattern, what)
    return lambda problems, loc, value, raw: value if name(problems, loc, value) else None


def _app_role(problems: Problems, loc: str, value: str, raw: Any) -> str | None:
    name = _name(APP_ROLE, "application role")
    if not name(problems, loc, value):
        return None
    if value != unicodedata.normalize("NFC", value) or value != value.lower():
        problem(problems, loc, f"application role {value!r} must be lower-case NFC")
        return None
    return value


def _per_unit_needs_app_roles(
    problems: Problems, where: str, values: dict[str, Any], raw: Any
) -> None:
    if values["per_unit"] and not values["app_roles"] and "app_roles" not in raw:
        problem(
            problems,
            _join(where, "per_unit"),
            "a role bound to a unit needs app_roles (only application roles carry a unit)",
        )


def _container_name(problems: Problems, loc: str, value: str, raw: Any) -> str:
    if not value.strip() or value != value.strip():
        problem(
            problems,
            loc,
            f"must be a non-empty name without leading or trailing spaces, got {value!r}",
        )
    return value


def _local_part(problems: Problems, loc: str, value: str, raw: Any) -> str:
    if value and not LOCAL_PART.fullmatch(value):
        problem(
            problems,
            loc,
            f"must be the local part of an address ({LOCAL_PART.pattern}), got {value!r}",
        )
    return value


def _seat_prefix(problems: Problems, loc: str, value: str, raw: Any) -> str | None:
    if not SEAT_PREFIX.fullmatch(value):
        problem(
            problems, loc, f"must be a local-part prefix ({SEAT_PREFIX.pattern}), got {value!r}"
        )
        return None
    return value


def _bounce_message(problems: Problems, loc: str, message: str, raw: Any) -> str:
    if len(message) > MAX_BOUNCE_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in message):
        problem(problems, loc, f"must be one line of at most {MAX_BOUNCE_LENGTH} characters")
        return message
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(message) if name is not None}
    except ValueError as exc:
        problem(problems, loc, f"invalid template: {exc}")
        return message
    unknown = sorted(fields - set(BOUNCE_FIELDS))
    if unknown:
        problem(problems, loc, f"unknown field(s) {unknown} (known: {', '.join(BOUNCE_FIELDS)})")
    return message


def _distinct_sizes(
    problems: Problems, loc: str, sizes: dict[str, int], raw: Any
) -> dict[str, int]:
    """The largest class wins when several apply: two classes of one size would tie."""
    kept: dict[str, int] = {}
    for name, size in sizes.items():
        twin = next((other for other, s in kept.items() if s == size), None)
        if twin is not None:
            problem(
                problems,
                _join(loc, name),
                f"same size as quotas.{twin} ({size} bytes): the larger class "
                "wins when several apply, so sizes must differ",
            )
        else:
            kept[name] = size
    if not raw and isinstance(raw, Mapping):
        problem(problems, loc, "define at least one quota class")
    return kept


def _distinct_levels(problems: Problems, loc: str, entries: list[dict[str, Any]], raw: Any) -> list:
    """Thresholds, lowest first; each min_level once (an entry without one is dropped)."""
    kept: dict[int, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        level = entry["min_level"]
        if level is None:
            continue
        if level in kept:
            problem(problems, f"{loc}[{i}].min_level", f"min_level {level} appears twice")
            continue
        kept[level] = entry
    return [kept[level] for level in sorted(kept)]


def _position_code(problems: Problems, loc: str, code: str) -> bool:
    if not code.strip():
        problem(problems, loc, "empty position code")
    return True


def _unit_type(problems: Problems, loc: str, name: str) -> bool:
    if name not in UNIT_TYPES:
        problem(problems, loc, f"unknown unit type (known: {', '.join(UNIT_TYPES)})")
    return True


def _role_name(problems: Problems, loc: str, name: str) -> bool:
    _name(ROLE_NAME, "role name")(problems, loc, name)
    return True  # still defined: references to it are not reported twice


def _distinct_ous(problems: Problems, where: str, values: dict[str, Any], raw: Any) -> None:
    groups_ou, former_ou = values["groups_ou"], values["former_ou"]
    if groups_ou and former_ou and groups_ou.casefold() == former_ou.casefold():
        problem(problems, _join(where, "former_ou"), "must differ from directory.groups_ou")


def _unit_needs_mailbox(problems: Problems, where: str, values: dict[str, Any], raw: Any) -> None:
    forward_to = values["leaver_forward_to"] or ()
    if "unit" in forward_to and not values["unit_mailbox"] and "leaver_forward_to" in raw:
        problem(problems, _join(where, "leaver_forward_to"), '"unit" needs mail.unit_mailbox')


def _seats_apart(problems: Problems, where: str, values: dict[str, Any], raw: Any) -> None:
    ou = values["seats"]["ou"]
    others = [o for o in (values["directory"]["groups_ou"], values["directory"]["former_ou"]) if o]
    if ou.casefold() in {o.casefold() for o in others}:
        problem(
            problems, "seats.ou", f"must differ from directory.groups_ou and former_ou, got {ou!r}"
        )


ROLE_REFS = Field(STRINGS, default=(), refs="roles", what="role")

MAIL = Table(
    {
        "old_address_days": Field(INTEGER, default=365),
        "old_addresses_until": Field(DATE),
        "leaver_action": Field(
            STRING, default="forward", choices=LEAVER_MAIL_ACTIONS, what="action"
        ),
        "leaver_forward_to": Field(
            STRINGS, default=FORWARD_TARGETS, choices=FORWARD_TARGETS, what="target"
        ),
        "leaver_forward_days": Field(INTEGER, default=90),
        "unit_mailbox": Field(STRING, default="", check=_local_part),
        "leaver_bounce_message": Field(
            STRING, default=DEFAULT_BOUNCE, blank_is_default=True, check=_bounce_message
        ),
    },
    checks=(_unit_needs_mailbox,),
)

ROLE = Table(
    {
        "groups": Field(STRINGS, default=(), item_check=_name_check(GROUP_NAME, "group name")),
        "quota": Field(STRING, refs="quotas", what="quota class", show_known=True),
        "app_roles": Field(STRINGS, default=(), item_check=_app_role),
        # true: the app roles are held for the unit of the post that gives the role
        # ("meeting:chair" of commune X's meetings), not everywhere.
        "per_unit": Field(BOOLEAN, default=False),
        "description": Field(STRING, default=""),
    },
    checks=(_per_unit_needs_app_roles,),
)

RULES = Table(
    {
        "naming": Field(
            TABLE,
            table=Table(
                {
                    "pattern": Field(
                        STRING, default=DEFAULT_PATTERN, choices=PATTERNS, what="pattern"
                    )
                }
            ),
        ),
        "directory": Field(
            TABLE,
            required=True,
            table=Table(
                {
                    "groups_ou": Field(STRING, required=True, check=_container_name),
                    "former_ou": Field(STRING, required=True, check=_container_name),
                },
                checks=(_distinct_ous,),
            ),
        ),
        "leaver": Field(
            TABLE,
            required=True,
            table=Table(
                {
                    "retention_days": Field(INTEGER, required=True),
                    "delete_after_retention": Field(BOOLEAN, required=True),
                }
            ),
        ),
        "joiner": Field(TABLE, table=Table({"prehire_days": Field(INTEGER, default=0)})),
        "quotas": Field(
            MAP,
            required=True,
            key=_name(ROLE_NAME, "quota class name"),
            item=Field(INTEGER, minimum=1),
            check=_distinct_sizes,
            defines="quotas",
        ),
        # Roles before everything that refers to them.
        "roles": Field(
            MAP, required=True, key=_role_name, item=Field(TABLE, table=ROLE), defines="roles"
        ),
        "default_roles": ROLE_REFS,
        "positions": Field(
            MAP,
            key=_position_code,
            item=Field(STRINGS, refs="roles", what="role", list_of="role names"),
        ),
        "leadership": Field(
            TABLES,
            default=(),
            table=Table({"min_level": Field(INTEGER, required=True), "roles": ROLE_REFS}),
            check=_distinct_levels,
        ),
        "unit_types": Field(
            MAP, key=_unit_type, item=Field(TABLE, table=Table({"roles": ROLE_REFS}))
        ),
        "unit_groups": Field(BOOLEAN, default=False),
        "admin_posts": Field(
            MAP,
            key=_position_code,
            item=Field(
                STRINGS,
                choices=ADMIN_ROLES,
                what="administrative role",
                list_of="administrative roles",
            ),
        ),
        "mail": Field(TABLE, table=MAIL),
        "seats": Field(
            TABLE,
            table=Table(
                {
                    "ou": Field(
                        STRING, default="seats", blank_is_default=True, check=_container_name
                    ),
                    "quota": Field(
                        STRING,
                        blank_is_default=True,
                        refs="quotas",
                        what="quota class",
                        show_known=True,
                    ),
                    "positions": Field(MAP, item=Field(STRING, check=_seat_prefix)),
                }
            ),
        ),
    },
    checks=(_seats_apart,),
)
"""The whole file."""

# --------------------------------------------------------------------------- the reader

_ABSENT: Mapping[str, Any] = MappingProxyType({})  # stands in for a missing or broken table
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _join(where: str, key: str) -> str:
    part = key if _BARE_KEY.fullmatch(key) else '"' + key.replace('"', '\\"') + '"'
    return f"{where}.{part}" if where else part


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


class _Reader:
    """Reads values against the schema; `defined` holds, per MAP that others refer to,
    every name it defines and the names whose definition is valid."""

    def __init__(self) -> None:
        self.problems: Problems = []
        self.defined: dict[str, tuple[Collection[str], Collection[str]]] = {}

    def error(self, where: str, message: str) -> None:
        problem(self.problems, where, message)

    def table(self, raw: Any, where: str, table: Table) -> dict[str, Any]:
        """Every field of `table` (defaults filled in); `raw` may be _ABSENT."""
        for key in raw:
            if key not in table.fields:
                self.error(
                    _join(where, key), f"unknown key (expected one of: {_list(table.fields)})"
                )
        values = {
            name: self.field(raw, name, _join(where, name), field)
            for name, field in table.fields.items()
        }
        for check in table.checks:
            check(self.problems, where, values, raw)
        return values

    def field(self, data: Mapping[str, Any], key: str, loc: str, field: Field) -> Any:
        if key in data:
            return self.value(data[key], loc, field)
        if field.required and data is not _ABSENT:
            self.error(loc, "missing table" if field.type in (TABLE, MAP) else "missing")
        if field.type == TABLE:
            return self.table(_ABSENT, loc, field.table)  # type: ignore[arg-type]
        if field.defines:
            self.defined[field.defines] = ((), ())
        return {} if field.type == MAP else field.default

    def value(self, raw: Any, loc: str, field: Field) -> Any:
        value = getattr(self, "_" + field.type)(raw, loc, field)
        if value is not None and field.check is not None:
            value = field.check(self.problems, loc, value, raw)
        if field.defines:  # after the check: a class it refused is not valid
            self.defined[field.defines] = (tuple(raw) if isinstance(raw, Mapping) else (), value)
        return value

    def _string(self, raw: Any, loc: str, field: Field) -> str | None:
        if not isinstance(raw, str):
            self.error(loc, f"must be a string, not {_kind(raw)}")
            return field.default  # type: ignore[no-any-return]
        if not raw and field.blank_is_default:
            return field.default  # type: ignore[no-any-return]
        return self._allowed(raw, loc, field)

    def _allowed(self, value: str, loc: str, field: Field) -> str | None:
        """`value` if it is one of `choices` and names a valid one of `refs`."""
        if field.choices and value not in field.choices:
            known = ", ".join(field.choices)
            self.error(loc, f"unknown {field.what} {value!r} (known: {known})")
            return field.default if field.type == STRING else None
        if field.refs:
            every, valid = self.defined.get(field.refs, ((), ()))
            if value not in every:  # a broken definition was reported already
                known = f" (known: {_list(every) or 'none'})" if field.show_known else ""
                self.error(loc, f"unknown {field.what} {value!r}{known}")
                return None
            if value not in valid:
                return None
        return value

    def _integer(self, raw: Any, loc: str, field: Field) -> int | None:
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.error(loc, f"must be an integer, not {_kind(raw)}")
            return field.default
        if raw < field.minimum:
            what = "non-negative" if field.minimum == 0 else f"at least {field.minimum}"
            self.error(loc, f"must be {what}, got {raw}")
            return field.default
        return raw

    def _boolean(self, raw: Any, loc: str, field: Field) -> bool | None:
        if not isinstance(raw, bool):
            self.error(loc, f"must be true or false, not {_kind(raw)}")
            return field.default  # type: ignore[no-any-return]
        return raw

    def _date(self, raw: Any, loc: str, field: Field) -> dt.date | None:
        if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
            return raw
        if isinstance(raw, str):
            try:
                return dt.date.fromisoformat(raw)
            except ValueError:
                self.error(loc, f"not a date (YYYY-MM-DD): {raw!r}")
                return None
        self.error(loc, f"must be a date, not {_kind(raw)}")
        return None

    def _strings(self, raw: Any, loc: str, field: Field) -> tuple[str, ...] | None:
        if not isinstance(raw, list):
            self.error(loc, f"must be a list of {field.list_of}, not {_kind(raw)}")
            return ()  # not the default: a broken list names nothing
        out: list[str] = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            item_loc = f"{loc}[{i}]"
            if not isinstance(item, str):
                self.error(item_loc, f"must be a string, not {_kind(item)}")
                continue
            if item in seen:
                self.error(item_loc, f"{item!r} is listed twice")
                continue
            seen.add(item)
            kept = self._allowed(item, item_loc, field)
            if kept is not None and field.item_check is not None:
                kept = field.item_check(self.problems, item_loc, kept, item)
            if kept is not None:
                out.append(kept)
        return tuple(out)

    def _table(self, raw: Any, loc: str, field: Field) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            self.error(loc, f"must be a table, not {_kind(raw)}")
            raw = _ABSENT
        return self.table(raw, loc, field.table)  # type: ignore[arg-type]

    def _tables(self, raw: Any, loc: str, field: Field) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            self.error(loc, f"must be an array of tables ([[{loc}]]), not {_kind(raw)}")
            raw = []
        entry = dataclasses.replace(field, type=TABLE, check=None)
        return [self._table(body, f"{loc}[{i}]", entry) for i, body in enumerate(raw)]

    def _map(self, raw: Any, loc: str, field: Field) -> dict[str, Any]:
        if not isinstance(raw, Mapping):
            self.error(loc, f"must be a table, not {_kind(raw)}")
            raw = _ABSENT
        out: dict[str, Any] = {}
        for name, body in raw.items():
            item_loc = _join(loc, name)
            if field.key is not None and not field.key(self.problems, item_loc, name):
                continue
            value = self.value(body, item_loc, field.item)  # type: ignore[arg-type]
            if value is not None:
                out[name] = value
        return out


def read_rules(mapping: Any) -> tuple[dict[str, Any], list[str]]:
    """The file's values (as :data:`RULES` describes them) and every problem found."""
    reader = _Reader()
    if not isinstance(mapping, Mapping):
        reader.error("", f"must be a table, not {_kind(mapping)}")
        mapping = _ABSENT
    values = reader.table(mapping, "", RULES)
    return values, reader.problems
