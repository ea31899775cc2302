"""Plan types shared by the targets and their helpers (no target imports another's module
for them): what a converge intends for one subject, and what its run came to."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from connectors.base import Account, AccountKey, ConnectorError, Operation, OpKind, Result
from provisioning.model import DesiredAccount


class Outcome:
    """What a plan's run came to: the failure found while planning, else the first error
    the connector answered (None: converged)."""

    failure: ConnectorError | None
    results: list[Result]

    @property
    def error(self) -> ConnectorError | None:
        if self.failure is not None:
            return self.failure
        return next((r.error for r in self.results if r.error is not None), None)


@dataclass(frozen=True)
class MailCredentials:
    """What the directory's mail-credentials entry of a person should hold."""

    uid: str | None
    active: bool
    values: tuple[str, ...]


@dataclass
class PersonPlan(Outcome):
    """One person's directory converge: desired and actual account, and the operations."""

    person_id: uuid.UUID
    desired: DesiredAccount
    actual: Account | None
    operations: list[Operation]
    results: list[Result] = field(default_factory=list)
    failure: ConnectorError | None = None  # found while planning (e.g. a duplicated key)
    # The pending password mark whose value the operations write (targets/passwords.py).
    password_stamp: dt.datetime | None = None
    # The person's mail credentials (app passwords) to bring in step after the entry,
    # and the pending mark they answer (targets/app_passwords.py).
    mail_credentials: MailCredentials | None = None
    mail_stamp: dt.datetime | None = None

    @property
    def disables(self) -> bool:
        """Does this plan take an account away (disable or delete)?"""
        return any(op.kind in (OpKind.DISABLE, OpKind.DELETE) for op in self.operations)


def write_with_entry(
    p: PersonPlan, attributes: Mapping[str, tuple[str, ...]], reason: str, *, on_create: bool = True
) -> bool:
    """Write `attributes` with the person's entry: into its CREATE when this round makes it
    (unless `on_create` is False), else as a MODIFY of the entry it has. False when there
    is no entry and none is made."""
    create = next((i for i, op in enumerate(p.operations) if op.kind is OpKind.CREATE), None)
    if create is not None:
        if on_create:
            op = p.operations[create]
            p.operations[create] = dataclasses.replace(
                op, attributes={**op.attributes, **attributes}
            )
        return True
    if p.actual is None:
        return False
    p.operations.append(
        Operation(
            kind=OpKind.MODIFY,
            target=AccountKey(str(p.person_id)),
            attributes=dict(attributes),
            reason=reason,
            current=p.actual.name,
        )
    )
    return True
