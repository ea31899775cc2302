"""Pipelining on the one connection: up to `window` asynchronous operations in flight,
answers taken in order, and anything whose outcome a broken connection left unknown
redone synchronously (every step is idempotent, so a redo that finds its work done is
a success)."""

from __future__ import annotations

from collections import deque

import ldap
from ldap.controls.libldap import AssertionControl

from connectors.base import AccountKey, OpKind, Result
from connectors.dn import DnKey, cut_first_rdn
from connectors.ldap.batch import (
    Batch,
    Memberships,
    attribute_mods,
    member_mods,
    status_mods,
)
from connectors.ldap.connection import BATCH_FATAL, Conn
from connectors.ldap.entries import key_filter
from connectors.ldap.steps import Add, AddSteps, EntrySteps


class _Broken(Exception):
    """The connection the pipelined operations were sent on is gone."""


class AddPipeline:
    """A run of adds sent asynchronously; an add whose parent is still in flight waits
    for it first (slapd may run the operations of one connection in parallel)."""

    def __init__(self, batch: Batch, steps: AddSteps, window: int) -> None:
        self.batch = batch
        self.steps = steps
        self.window = window

    def run(self, prepared: list[Add]) -> list[Add]:
        """Send the adds; returns those whose outcome is unknown because the connection
        broke (to be redone synchronously: an add that did land is found again by its
        key)."""
        connection = self.batch.connection
        pending = deque(prepared)
        in_flight: deque[tuple[Add, int]] = deque()
        in_flight_dns: set[DnKey] = set()
        conn = connection.get()
        try:
            while pending or in_flight:
                if not connection.is_current(conn):  # a follow-up search had to reconnect
                    raise _Broken
                if pending and len(in_flight) < self.window:
                    add = pending[0]
                    _index, dn, entry, key = add
                    if key[1:] in in_flight_dns:
                        self._finish(conn, in_flight, in_flight_dns)  # its parent first
                        continue
                    pending.popleft()
                    in_flight.append((add, conn.add_ext(dn, entry)))
                    in_flight_dns.add(key)
                else:
                    self._finish(conn, in_flight, in_flight_dns)
        except (_Broken, ldap.LDAPError) as exc:
            if not isinstance(exc, (_Broken, *BATCH_FATAL)):
                raise
            if connection.is_current(conn):
                connection.close()
            return [add for add, _msgid in in_flight] + list(pending)
        return []

    def _finish(
        self, conn: Conn, in_flight: deque[tuple[Add, int]], in_flight_dns: set[DnKey]
    ) -> None:
        """Take the oldest answer in flight."""
        batch = self.batch
        (index, dn, _entry, key), msgid = in_flight[0]
        error: ldap.LDAPError | None = None
        try:
            conn.result3(msgid, timeout=batch.connection.config.timeout_s)
        except BATCH_FATAL:
            raise
        except ldap.LDAPError as exc:
            error = exc
        in_flight.popleft()
        in_flight_dns.discard(key)
        op = batch.ops[index]
        if error is None:
            batch.located[op.target] = dn
            batch.results[index] = Result(op, name=dn)
        else:
            failed = error
            batch.guard(index, lambda o: self.steps.failed(index, o, dn, failed))


_InFlight = tuple[int, int, str, Memberships | None]  # op index, msgid, DN used, folded


class EntryPipeline:
    """A run of moves, renames, modifies, disables and enables, pipelined across
    entries: one at a time per entry (its modify must see its new DN)."""

    def __init__(self, batch: Batch, steps: EntrySteps, window: int) -> None:
        self.batch = batch
        self.steps = steps
        self.window = window

    def run(self, indexes: list[int]) -> None:
        """Each operation is sent where the batch or the planner says the entry is, with
        the key asserted; one that fails for any reason but the server going away is
        redone synchronously with the full fallbacks (find by key, memberships apart),
        and so is the rest of that entry's chain."""
        batch = self.batch
        connection = batch.connection
        chains: dict[AccountKey, deque[int]] = {}
        for index in indexes:
            chains.setdefault(batch.ops[index].target, deque()).append(index)
        ready: deque[AccountKey] = deque(chains)
        in_flight: deque[_InFlight] = deque()
        conn = connection.get()
        try:
            while ready or in_flight:
                if not connection.is_current(conn):  # a synchronous redo had to reconnect
                    raise _Broken
                if ready and len(in_flight) < self.window:
                    target = ready.popleft()
                    index = chains[target].popleft()
                    try:
                        sent = self._send(conn, index)
                    except BATCH_FATAL:
                        chains[target].appendleft(index)
                        ready.appendleft(target)
                        raise
                    except ldap.LDAPError:
                        sent = None
                    if sent is None:  # needs a search, or could not be sent
                        self._redo(index, chains[target])
                    else:
                        in_flight.append((index, *sent))
                    continue
                index, msgid, dn, changes = in_flight.popleft()
                op = batch.ops[index]
                try:
                    conn.result3(msgid, timeout=connection.config.timeout_s)
                except BATCH_FATAL:
                    in_flight.appendleft((index, msgid, dn, changes))
                    raise
                except ldap.LDAPError:
                    if changes:
                        batch.memberships[op.target] = changes  # written apart by the redo
                    self._redo(index, chains[op.target])
                    continue
                self._sent_ok(index, dn, changes)
                if chains[op.target]:
                    ready.append(op.target)
        except (_Broken, ldap.LDAPError) as exc:
            if not isinstance(exc, (_Broken, *BATCH_FATAL)):
                raise
            if connection.is_current(conn):
                connection.close()
            # Outcomes unknown: redo synchronously (a move that landed is found by key).
            for index, _msgid, _dn, changes in in_flight:
                if changes:
                    batch.memberships[batch.ops[index].target] = changes
                self._redo(index, chains[batch.ops[index].target])
            for target in ready:
                while chains[target]:
                    batch.guard(chains[target].popleft(), self.steps.run)

    def _redo(self, index: int, rest: deque[int]) -> None:
        self.batch.guard(index, self.steps.run)
        while rest:
            self.batch.guard(rest.popleft(), self.steps.run)

    def _send(self, conn: Conn, index: int) -> tuple[int, str, Memberships | None] | None:
        """Send one entry operation asynchronously: (msgid, DN used, memberships folded
        into it), or None when it must go the synchronous way."""
        batch = self.batch
        op = batch.ops[index]
        dn = batch.current(op)
        if dn is None:
            return None
        controls = [AssertionControl(True, key_filter(op.target))]
        try:
            if op.kind in (OpKind.MOVE, OpKind.RENAME):
                assert op.name is not None
                if dn == op.name:
                    return None  # already there: the synchronous path says so
                # The planner chose: MOVE names a new parent, RENAME keeps it. Naming the
                # parent the entry already has is harmless, so no DN needs comparing here.
                new_rdn, new_parent = cut_first_rdn(op.name)
                superior = new_parent if op.kind is OpKind.MOVE else None
                return conn.rename(dn, new_rdn, superior, 1, controls), dn, None
            if op.kind is OpKind.MODIFY:
                changes = batch.memberships.pop(op.target, None)
                mods = attribute_mods(op)
                if changes:
                    mods += member_mods(changes.values())
                try:
                    return conn.modify_ext(dn, mods, controls), dn, changes
                except ldap.LDAPError:
                    if changes:  # not sent: the redo writes them
                        batch.memberships[op.target] = changes
                    raise
            return conn.modify_ext(dn, status_mods(op.kind), controls), dn, None
        except ValueError:  # a malformed DN: the synchronous path reports it
            return None

    def _sent_ok(self, index: int, dn: str, changes: Memberships | None) -> None:
        batch = self.batch
        op = batch.ops[index]
        if op.kind in (OpKind.MOVE, OpKind.RENAME):
            assert op.name is not None
            batch.located[op.target] = op.name
            batch.results[index] = Result(op, name=op.name)
            return
        batch.results[index] = Result(op, name=dn)
        if changes:
            batch.member_results(changes.values(), None)
