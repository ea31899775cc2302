"""LdapConnector.apply: one batch of operations run in order, runs of creates and runs
of entry operations pipelined, member changes folded into each member's create or
modify, and the groups they add to made at the end."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import Operation, OpKind, Result
from connectors.ldap.batch import Batch
from connectors.ldap.connection import Connection
from connectors.ldap.members import GroupMaker, MemberWriter
from connectors.ldap.pipeline import AddPipeline, EntryPipeline
from connectors.ldap.reads import Reader
from connectors.ldap.steps import AddSteps, EntrySteps

_PIPELINED = frozenset({OpKind.MOVE, OpKind.RENAME, OpKind.MODIFY, OpKind.DISABLE, OpKind.ENABLE})


class Writer:
    """Runs one apply() call: sorts its operations into runs and hands each run to its
    pipeline or step."""

    def __init__(
        self,
        connection: Connection,
        reader: Reader,
        ops: Sequence[Operation],
        *,
        window: int,
        known_groups: set[str],
    ) -> None:
        self.batch = Batch(connection, reader, ops)
        self.window = window
        self.members = MemberWriter(self.batch)
        self.groups = GroupMaker(self.batch, known_groups)
        self.adds = AddSteps(self.batch, self.members)
        self.entry_steps = EntrySteps(self.batch, self.members)

    def run(self) -> list[Result]:
        batch = self.batch
        batch.collect_memberships()
        added_to = {
            norm: m.group_dn
            for changes in batch.memberships.values()
            for norm, m in changes.items()
            if m.add
        }
        creates: list[int] = []
        entries: list[int] = []  # a run of entry operations that may be pipelined
        for index, op in enumerate(batch.ops):
            if op.kind in (OpKind.CREATE, OpKind.ENSURE_CONTAINER):
                if entries:
                    self._entries(entries)
                    entries = []
                creates.append(index)
            elif op.kind in (OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER):
                continue  # collected above
            else:
                if creates:
                    self._creates(creates)
                    creates = []
                if op.kind in _PIPELINED:
                    entries.append(index)
                    continue
                if entries:  # a delete waits for every move out from under it
                    self._entries(entries)
                    entries = []
                batch.guard(index, self.entry_steps.run)
        if creates:
            self._creates(creates)
        if entries:
            self._entries(entries)
        for target in list(batch.memberships):  # members whose entry had no create/modify
            self.members.write(target, batch.memberships.pop(target))
        self.groups.ensure_all(added_to)
        return batch.outcome()

    def _creates(self, indexes: list[int]) -> None:
        """A run of creates (and ensure_container), pipelined when the window allows;
        what the pipeline could not settle is added synchronously."""
        prepared = self.adds.prepare(indexes)
        if self.window > 1 and len(prepared) > 1:
            # What is left: none, or the adds after a broken connection.
            prepared = AddPipeline(self.batch, self.adds, self.window).run(prepared)
        for index, dn, entry, _key in prepared:
            self.batch.guard(index, self.adds.adder(index, dn, entry))
        for index in indexes:
            self.adds.settle_folded(index)

    def _entries(self, indexes: list[int]) -> None:
        if self.window <= 1 or len(indexes) < 2:
            for index in indexes:
                self.batch.guard(index, self.entry_steps.run)
            return
        EntryPipeline(self.batch, self.entry_steps, self.window).run(indexes)
