"""The synchronous step of each kind of operation (create, modify, move, delete, …),
with its fallbacks: find the entry by its key, write memberships apart, accept what a
retried batch already did. The pipelines fall back to these."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

import ldap
from ldap.controls.libldap import AssertionControl

from connectors.base import (
    Conflict,
    ConnectorError,
    InvalidData,
    Operation,
    OpKind,
    Result,
    TargetUnavailable,
)
from connectors.dn import DnKey, dn_key, equal_dns, rdn_and_parent
from connectors.ldap.batch import (
    Batch,
    Memberships,
    Vanished,
    attribute_mods,
    member_mods,
    modifier,
    status_mods,
)
from connectors.ldap.connection import BATCH_FATAL, Conn, map_error
from connectors.ldap.entries import MEMBER_ATTRIBUTE, Encoded, encode
from connectors.ldap.members import MemberWriter

Add: TypeAlias = tuple[int, str, Encoded, DnKey]  # op index, DN, entry, DN's key


class EntrySteps:
    """Modify, disable, enable, move, rename, delete and remove_container, one at a time."""

    def __init__(self, batch: Batch, members: MemberWriter) -> None:
        self.batch = batch
        self.members = members

    def run(self, op: Operation) -> Result:
        batch = self.batch
        kind = op.kind
        if kind is OpKind.MODIFY:
            changes = batch.memberships.pop(op.target, None)
            if changes:
                return self._modify_with_members(op, changes)
            dn = batch.at_entry(op, modifier(attribute_mods(op)))
            return Result(op, name=dn)
        if kind in (OpKind.DISABLE, OpKind.ENABLE):
            dn = batch.at_entry(op, modifier(status_mods(kind)))
            return Result(op, name=dn)
        if kind in (OpKind.MOVE, OpKind.RENAME):
            return self._move(op)
        if kind in (OpKind.DELETE, OpKind.REMOVE_CONTAINER):
            return self._delete(op)
        raise InvalidData(f"{batch.what(op)}: not an entry operation")

    def _modify_with_members(self, op: Operation, changes: Memberships) -> Result:
        """The person's attribute changes and member changes in one modify; apart if
        that fails (a member already there, a bad attribute value), so each operation
        gets its own outcome."""
        batch = self.batch
        mods = attribute_mods(op) + member_mods(changes.values())
        try:
            dn = batch.at_entry(op, modifier(mods))
        except (ldap.LDAPError, ConnectorError, Vanished) as exc:
            if isinstance(exc, (TargetUnavailable, *BATCH_FATAL)):
                raise
            self.members.write(op.target, changes)
            dn = batch.at_entry(op, modifier(attribute_mods(op)))
            return Result(op, name=dn)
        batch.member_results(changes.values(), None)
        return Result(op, name=dn)

    def _move(self, op: Operation) -> Result:
        batch = self.batch
        assert op.name is not None
        target = op.name
        new_rdn, new_parent = rdn_and_parent(target)

        def modrdn(conn: Conn, dn: str, ctrls: list[AssertionControl]) -> None:
            if equal_dns(dn, target):
                return  # already there (a retried batch)
            _, old_parent = rdn_and_parent(dn)
            superior = None if equal_dns(old_parent, new_parent) else new_parent
            conn.rename_s(dn, new_rdn, superior, delold=1, serverctrls=ctrls)

        try:
            batch.at_entry(op, modrdn)
        except ldap.ALREADY_EXISTS as exc:
            if not batch.reader.holds_key(target, op.target):
                raise Conflict(f"{batch.what(op)}: {target} is taken by another entry") from exc
        except ldap.NO_SUCH_OBJECT as exc:
            raise Conflict(f"{batch.what(op)}: the new parent {new_parent} does not exist") from exc
        batch.located[op.target] = target
        return Result(op, name=target)

    def _delete(self, op: Operation) -> Result:
        batch = self.batch
        try:
            dn: str | None = batch.at_entry(op, lambda c, d, ctrls: c.delete_ext_s(d, ctrls))
        except Vanished:
            dn = None  # nothing to delete: done
        except ldap.NOT_ALLOWED_ON_NONLEAF as exc:
            raise Conflict(f"{batch.what(op)}: there are still entries below it") from exc
        batch.located[op.target] = None
        return Result(op, name=dn)


class AddSteps:
    """Create and ensure_container: the entry to add, one add, and what a failed add
    means (a retried batch finding its own entry is a success)."""

    def __init__(self, batch: Batch, members: MemberWriter) -> None:
        self.batch = batch
        self.members = members

    def prepare(self, indexes: list[int]) -> list[Add]:
        """The adds of these operations; a new entry carries its memberships from the
        start (no modify after the add). A malformed DN is its operation's Result."""
        batch = self.batch
        prepared: list[Add] = []
        for index in indexes:
            op = batch.ops[index]
            assert op.name is not None
            try:
                key = dn_key(op.name)
            except ValueError as exc:
                batch.results[index] = Result(op, InvalidData(f"{batch.what(op)}: {exc}"))
                continue
            entry = encode(op.attributes.items())
            changes = batch.memberships.pop(op.target, None) if op.kind is OpKind.CREATE else None
            if changes:
                batch.folded[index] = changes
                adds = [m.group_dn.encode("utf-8") for m in changes.values() if m.add]
                if adds:
                    entry.append((MEMBER_ATTRIBUTE, adds))
            prepared.append((index, op.name, entry, key))
        return prepared

    def adder(self, index: int, dn: str, entry: Encoded) -> Callable[[Operation], Result]:
        return lambda op: self._add_sync(index, op, dn, entry)

    def _add_sync(self, index: int, op: Operation, dn: str, entry: Encoded) -> Result:
        batch = self.batch
        try:
            batch.raw(lambda: batch.what(op, dn), lambda c: c.add_s(dn, entry))
        except ldap.LDAPError as exc:
            return self.failed(index, op, dn, exc)
        batch.located[op.target] = dn
        return Result(op, name=dn)

    def failed(self, index: int, op: Operation, dn: str, exc: ldap.LDAPError) -> Result:
        """The Result of an add the server refused."""
        batch = self.batch
        if isinstance(exc, ldap.ALREADY_EXISTS):
            # A container that exists is what ensure_container wants; an entry that
            # carries this very key is a create already done (a retried batch).
            if op.kind is OpKind.ENSURE_CONTAINER or batch.reader.holds_key(dn, op.target):
                batch.located[op.target] = dn
                batch.existed.add(index)
                return Result(op, name=dn)
            return Result(op, Conflict(f"{batch.what(op, dn)}: the name is taken by another entry"))
        if isinstance(exc, ldap.NO_SUCH_OBJECT):
            _, parent = rdn_and_parent(dn)
            return Result(op, Conflict(f"{batch.what(op, dn)}: the parent {parent} does not exist"))
        return Result(op, map_error(exc, batch.what(op, dn)))

    def settle_folded(self, index: int) -> None:
        """The member changes that rode on create `index` share its outcome; if the
        create found its entry already there (a retried batch), they are written to it."""
        batch = self.batch
        changes = batch.folded.pop(index, None)
        if changes is None:
            return
        op = batch.ops[index]
        result = batch.results[index]
        if index in batch.existed:
            self.members.write(op.target, changes)
            return
        error = None if result is None else result.error
        if result is None or error is not None:
            error = Conflict(f"{batch.what(op)}: not applied, the entry was not created")
        batch.member_results(changes.values(), None if result and result.ok else error)
