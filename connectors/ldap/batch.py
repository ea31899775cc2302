"""One apply() call's state (results so far, where entries are now, member changes not
written yet) and running one operation on its entry, wherever that entry is now.

Every operation carries an LDAP assertion of its entry's key instead of a read before
it, so a DN that now names someone else's entry is never acted on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

import ldap
from ldap.controls.libldap import AssertionControl

from connectors.base import (
    AccountKey,
    Conflict,
    ConnectorError,
    InvalidData,
    Operation,
    OpKind,
    Result,
    TargetUnavailable,
)
from connectors.dn import equal_dns, normalize_dn
from connectors.ldap.connection import Conn, Connection, What, map_error
from connectors.ldap.entries import MEMBER_ATTRIBUTE, key_filter
from connectors.ldap.reads import Reader

T = TypeVar("T")

Mods: TypeAlias = list[tuple[int, str, list[bytes] | None]]
Action: TypeAlias = Callable[[Conn, str, list[AssertionControl]], None]  # on (conn, DN)


class Vanished(Exception):
    """The entry is neither where the plan says nor anywhere else (by its key)."""


@dataclass
class Membership:
    """The last word of the batch on one (member, group) pair, and the operations
    that said something about it (they share the outcome)."""

    add: bool
    group_dn: str
    ops: list[int]


Memberships: TypeAlias = dict[str, Membership]  # by normalised group DN, for one member


def member_mods(changes: Iterable[Membership]) -> Mods:
    adds = [m.group_dn.encode("utf-8") for m in changes if m.add]
    removes = [m.group_dn.encode("utf-8") for m in changes if not m.add]
    mods: Mods = []
    if adds:
        mods.append((ldap.MOD_ADD, MEMBER_ATTRIBUTE, adds))
    if removes:
        mods.append((ldap.MOD_DELETE, MEMBER_ATTRIBUTE, removes))
    return mods


def attribute_mods(op: Operation) -> Mods:
    # Replace with no values removes an attribute, and is no error if it is absent.
    return [
        (ldap.MOD_REPLACE, name, [v.encode("utf-8") for v in values] or None)
        for name, values in op.attributes.items()
    ]


def status_mods(kind: OpKind) -> Mods:
    status = b"disabled" if kind is OpKind.DISABLE else b"active"
    return [(ldap.MOD_REPLACE, "idhubAccountStatus", [status])]


def modifier(mods: Mods) -> Action:
    return lambda conn, dn, ctrls: conn.modify_ext_s(dn, mods, ctrls)


def deleter(dn: str) -> Callable[[Conn], None]:
    return lambda conn: conn.delete_s(dn)


class Batch:
    """One apply() call, and what lives as long as it: where entries are now."""

    def __init__(self, connection: Connection, reader: Reader, ops: Sequence[Operation]) -> None:
        self.connection = connection
        self.reader = reader
        self.name = connection.name
        self.ops = list(ops)
        self.results: list[Result | None] = [None] * len(self.ops)
        # Where this batch put each key (create, move, rename); None after a delete.
        self.located: dict[AccountKey, str | None] = {}
        # Member changes not written yet, by member; those folded into a create wait
        # in `folded` for its outcome (by the create's op index).
        self.memberships: dict[AccountKey, Memberships] = {}
        self.folded: dict[int, Memberships] = {}
        self.existed: set[int] = set()  # creates that found their own entry there

    def collect_memberships(self) -> None:
        """Gather add_member / remove_member by member and group; the last word counts."""
        for index, op in enumerate(self.ops):
            if op.kind not in (OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER):
                continue
            assert op.group is not None
            try:
                norm = normalize_dn(op.group)
            except ValueError as exc:
                self.results[index] = Result(op, InvalidData(f"{self.what(op)}: {exc}"))
                continue
            add = op.kind is OpKind.ADD_MEMBER
            changes = self.memberships.setdefault(op.target, {})
            previous = changes.get(norm)
            if previous is None:
                changes[norm] = Membership(add, op.group, [index])
            else:  # the last word counts
                previous.add = add
                previous.ops.append(index)

    def outcome(self) -> list[Result]:
        """One Result per operation; one nothing answered for was not applied."""
        return [
            result or Result(op, ConnectorError(f"{self.what(op)}: not applied"))
            for op, result in zip(self.ops, self.results, strict=True)
        ]

    def what(self, op: Operation, dn: str | None = None) -> str:
        return f"{self.name}: {op.kind} {op.target} ({dn or op.name or op.current or '?'})"

    def guard(self, index: int, handler: Callable[[Operation], Result]) -> None:
        """Run one operation's handler; its failures become its Result, except the
        server going away (TargetUnavailable), which ends the batch."""
        op = self.ops[index]
        try:
            self.results[index] = handler(op)
        except TargetUnavailable:
            raise
        except ConnectorError as exc:
            self.results[index] = Result(op, exc)
        except Vanished:
            self.results[index] = Result(op, Conflict(f"{self.what(op)}: entry vanished"))
        except ValueError as exc:  # a malformed DN in the operation
            self.results[index] = Result(op, InvalidData(f"{self.what(op)}: {exc}"))
        except ldap.LDAPError as exc:
            self.results[index] = Result(op, map_error(exc, self.what(op)))

    def raw(self, what: What, fn: Callable[[Conn], T]) -> T:
        return self.connection.raw(what, fn)

    def member_results(self, changes: Iterable[Membership], error: ConnectorError | None) -> None:
        for change in changes:
            for index in change.ops:
                self.results[index] = Result(self.ops[index], error, name=change.group_dn)

    def current(self, op: Operation) -> str | None:
        """Where the operation's entry is: where this batch put it, else where the
        planner read it."""
        if op.target in self.located:
            return self.located[op.target]
        return op.current

    def at_entry(self, op: Operation, action: Action) -> str:
        """Run `action` on the operation's entry: where the batch or the planner says it
        is, else (gone from there) wherever its key is now. Returns the DN used; raises
        Vanished if the key is nowhere.

        The operation carries an LDAP assertion of the key (no extra round trip), so a
        DN that now names someone else's entry (a stale read; a uid given out again) is
        never acted on, but treated like a DN with no entry.
        """
        controls = [AssertionControl(True, key_filter(op.target))]
        dn = self.current(op)
        found: str | None
        if dn is not None:
            try:
                self.raw(lambda: self.what(op, dn), lambda c: action(c, dn, controls))
                return dn
            except (ldap.NO_SUCH_OBJECT, ldap.ASSERTION_FAILED) as exc:
                found = self.reader.find(op.target)
                if found is not None and equal_dns(found, dn):
                    if isinstance(exc, ldap.ASSERTION_FAILED):  # it changed in between
                        raise Conflict(f"{self.what(op, dn)}: the key check failed") from exc
                    raise  # the entry is there: something else is missing (a new parent)
        else:
            found = self.reader.find(op.target)
        if found is None:
            raise Vanished
        where = found
        self.raw(lambda: self.what(op, where), lambda c: action(c, where, controls))
        return where
