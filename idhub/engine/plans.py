"""Plan types shared by the targets and their helpers (no target imports another's module
for them): what a converge intends for one subject, and what its run came to."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field

from connectors.base import Account, ConnectorError, Operation, OpKind, Result
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
