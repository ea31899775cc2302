"""The connector contract: plain data in and out, typed errors, small capability Protocols.

A connector knows one target system (LDAP, mail, an app) and nothing about HR. The
provisioning core reads what the target holds (`read`, `scan`), diffs it against what
policy wants, and hands the connector a short list of `Operation`s (`apply`); the shell
types against the small capability protocols at the end. Every type
here is a frozen dataclass so plans can be compared, logged and previewed safely.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import ClassVar, Protocol, runtime_checkable

Values = tuple[str, ...]
"""All values of one attribute, in the target's order."""

Attributes = Mapping[str, Values]
"""Attribute name → values. Read-only once inside an Account or Operation."""


def freeze_attributes(attributes: Mapping[str, Iterable[str]]) -> Attributes:
    """Copy into a read-only mapping of tuples, so a frozen dataclass is really frozen."""
    frozen: dict[str, Values] = {}
    for name, values in attributes.items():
        if isinstance(values, str | bytes):  # tuple("abc") would be ("a", "b", "c")
            raise TypeError(f"values of {name!r} must be a sequence of str, not {values!r}")
        frozen[name] = tuple(values)
    return MappingProxyType(frozen)


# ---------------------------------------------------------------------- errors


class ConnectorError(Exception):
    """Base of every error a connector raises; `retry` tells the worker what to do."""

    retry: ClassVar[bool] = False


class TargetUnavailable(ConnectorError):
    """The target cannot be reached or is overloaded now: retry the job later."""

    retry = True


class TargetMisconfigured(TargetUnavailable):
    """The target answers but refuses the hub's settings (wrong bind password, missing
    rights, base DN absent).

    A fault of the connection settings, not of any one person's data, so jobs are
    retried (they converge once an admin fixes the settings) instead of failing for
    good, and `check()` shows the reason.
    """


class Conflict(ConnectorError):
    """The target's state contradicts the operation (entry exists, key used twice, a
    container still has children). Not retried; shown to the admin."""


class InvalidData(ConnectorError):
    """The target rejects the data itself (schema violation, bad syntax, unsupported
    operation). Not retried; shown to the admin."""


class DuplicateKeys(Conflict):
    """Several entries claim one correlation key (`ReadsManyAccounts.read_many`).

    `accounts` holds what was read for every other key, so a caller converging a batch
    can go on with those and report only the duplicated ones; `duplicates` maps each
    such key to the DNs that claim it.
    """

    def __init__(
        self,
        message: str,
        accounts: dict[AccountKey, Account],
        duplicates: dict[AccountKey, list[str]],
    ) -> None:
        super().__init__(message)
        self.accounts = accounts
        self.duplicates = duplicates


# ---------------------------------------------------------------------- data


class KeyKind(StrEnum):
    """What an AccountKey points at."""

    PERSON = "person"  # an account, by the hub's immutable person UUID
    UNIT = "unit"  # a container mirroring an org unit, by the unit UUID
    GROUP = "group"  # a group, by its name in the target
    SEAT = "seat"  # a seat mailbox's entry (a post, not a person), by the seat UUID


@dataclass(frozen=True, slots=True)
class AccountKey:
    """The immutable correlation key of an object in a target (never its DN or uid,
    which change with renames and moves)."""

    id: str
    kind: KeyKind = KeyKind.PERSON

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("AccountKey.id must not be empty")

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class Account:
    """What the target holds for one key right now.

    `name` is the target's own name for the object (the DN in LDAP). `groups` holds
    the names of the groups it belongs to, or None when the connector did not read
    them (so "no groups" and "not read" are different things).
    """

    key: AccountKey
    name: str
    attributes: Attributes = field(default_factory=dict)
    groups: frozenset[str] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", freeze_attributes(self.attributes))

    def get(self, attribute: str) -> Values:
        """Values of `attribute`, matched case-insensitively (as LDAP names are)."""
        wanted = attribute.casefold()
        for name, values in self.attributes.items():
            if name.casefold() == wanted:
                return values
        return ()


class OpKind(StrEnum):
    CREATE = "create"
    MODIFY = "modify"
    MOVE = "move"
    RENAME = "rename"
    DISABLE = "disable"
    ENABLE = "enable"
    DELETE = "delete"
    ADD_MEMBER = "add_member"
    REMOVE_MEMBER = "remove_member"
    ENSURE_CONTAINER = "ensure_container"
    REMOVE_CONTAINER = "remove_container"


_NEEDS_NAME = frozenset({OpKind.CREATE, OpKind.MOVE, OpKind.RENAME, OpKind.ENSURE_CONTAINER})
_NEEDS_GROUP = frozenset({OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER})


@dataclass(frozen=True, slots=True)
class Operation:
    """One step of a plan, applied to the object `target`.

    Payload by kind:
      create, ensure_container: `name` = the new object's name (DN), `attributes` = all
          its values;
      modify: `attributes` = new values per changed attribute, `()` removes it;
      move, rename: `name` = the new name (DN);
      add_member, remove_member: `group` = the group's name; the target is the member;
      disable, enable, delete, remove_container: no payload.
    `reason` is a short human text for previews and the audit trail.
    `current` is the object's name (DN) at the moment the operation runs, so the
    connector needs no search: the name as read, or the new name once a move or rename
    earlier in the same plan has run (and for add_member after a create); None for
    create and ensure_container.
    """

    kind: OpKind
    target: AccountKey
    name: str | None = None
    attributes: Attributes = field(default_factory=dict)
    group: str | None = None
    reason: str = ""
    current: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", freeze_attributes(self.attributes))
        if self.kind in _NEEDS_NAME and not self.name:
            raise ValueError(f"{self.kind} needs a name")
        if self.kind in _NEEDS_GROUP and not self.group:
            raise ValueError(f"{self.kind} needs a group")
        if self.kind is OpKind.MODIFY and not self.attributes:
            raise ValueError("modify needs at least one attribute")


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one Operation; `name` is the object's name afterwards (e.g. the
    new DN after a move) when the connector knows it."""

    operation: Operation
    error: ConnectorError | None = None
    name: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class Health:
    """Answer of `check()`: reachable or not, why, and how long it took."""

    ok: bool
    detail: str
    latency_ms: float


class Capability(StrEnum):
    """What a connector can do; the planner emits only operations a target supports."""

    READ = "read"
    SCAN = "scan"
    CREATE = "create"
    MODIFY = "modify"
    MOVE = "move"
    RENAME = "rename"
    DISABLE = "disable"
    DELETE = "delete"
    GROUPS = "groups"
    CONTAINERS = "containers"


# ---------------------------------------------------------------------- interface
#
# Small capability protocols the shell types against: a caller asks for what it uses
# (a ReadsAccounts to look a key up, a ManagesContainers to prune OUs), not for one
# connector class. Connector is the whole contract every connector keeps.


@runtime_checkable
class Named(Protocol):
    """Anything holding a target: its name (for messages), and its connections."""

    @property
    def name(self) -> str: ...

    def close(self) -> None:
        """Release connections; the connector may be used again afterwards."""
        ...


@runtime_checkable
class ChecksHealth(Protocol):
    def check(self) -> Health:
        """Can I reach and use the target? Never raises for an unreachable target."""
        ...


@runtime_checkable
class ReadsAccounts(Protocol):
    def read(self, key: AccountKey) -> Account | None:
        """The object for `key` as the target holds it now, or None if there is none."""
        ...


@runtime_checkable
class ReadsManyAccounts(ReadsAccounts, Protocol):
    def read_many(self, keys: Sequence[AccountKey]) -> dict[AccountKey, Account]:
        """The objects for many keys at once; keys with no object are absent."""
        ...


@runtime_checkable
class ScansAccounts(Protocol):
    def scan(self) -> Iterator[Account]:
        """Every object of ours under the connector's base, for reconciliation."""
        ...


@runtime_checkable
class AppliesOperations(Protocol):
    def apply(self, ops: Sequence[Operation]) -> list[Result]:
        """Apply in order; one Result per operation."""
        ...


@runtime_checkable
class ManagesContainers(Protocol):
    """Containers (LDAP OUs) mirroring org units, pruned once empty."""

    def containers(self) -> set[str]:
        """Normalised names of every container under the base."""
        ...

    def unit_containers(self) -> dict[str, str]:
        """Every container that mirrors an org unit: its name → the unit's id."""
        ...

    def remove_empty_containers(self, dns: Sequence[str]) -> list[str]:
        """Remove these containers, deepest first, each only if empty; the removed."""
        ...


@runtime_checkable
class ManagesGroups(Protocol):
    def managed_groups(self) -> set[str]:
        """Normalised names of the groups whose membership the hub manages."""
        ...


@runtime_checkable
class SetsPasswords(Protocol):
    def set_password_hash(self, key: AccountKey, password_hash: str) -> str:
        """Store a scheme-tagged hash made elsewhere on `key`'s object; its name."""
        ...


@runtime_checkable
class SetsMailCredentials(Protocol):
    def set_mail_credentials(
        self, key: AccountKey, *, uid: str | None, active: bool, values: Sequence[str]
    ) -> str | None:
        """Make `key`'s mail credentials (app-password hashes) exactly `values`, under
        `uid` and active or not; none (or no uid): removed. Its name, or None."""
        ...


@runtime_checkable
class ManagesMailboxes(Protocol):
    """Mailboxes: where one is, and who may read it."""

    def read_location(self, key: AccountKey, location: str) -> Account | None:
        """The mailbox at `location`, if it exists."""
        ...

    def read_locations(self, wanted: Sequence[tuple[AccountKey, str]]) -> dict[AccountKey, Account]:
        """The mailboxes among (key, location) pairs that exist, found together."""
        ...

    def read_acl(self, user: str) -> frozenset[str]:
        """The users the ACL of `user`'s INBOX names (its deputies)."""
        ...

    def used_bytes(self, user: str) -> int | None:
        """The size of every folder of `user`'s mailbox (None: cannot say now)."""
        ...


class Connector(Named, ChecksHealth, ReadsAccounts, ScansAccounts, AppliesOperations, Protocol):
    """One target system. Implementations escape every value they put into a name or a
    query, and raise only ConnectorError subclasses."""

    def capabilities(self) -> AbstractSet[str]: ...
