"""LdapConnector: the LDAP target of connectors.base, gluing the connection, the reads
and the writer together under one lock."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import ldap

from connectors.base import (
    Account,
    AccountKey,
    Capability,
    Connector,
    ConnectorError,
    Health,
    InvalidData,
    ManagesContainers,
    ManagesGroups,
    Operation,
    ReadsManyAccounts,
    Result,
    SetsMailCredentials,
    SetsPasswords,
)
from connectors.dn import dn_key
from connectors.ldap.batch import deleter
from connectors.ldap.connection import Connection, LdapConfig, map_error
from connectors.ldap.mail_credentials import set_mail_credentials
from connectors.ldap.reads import Reader
from connectors.ldap.writer import Writer

ADD_WINDOW = 16
"""Asynchronous operations kept in flight for a run of creates or of entry operations
(1 = synchronous)."""


class LdapConnector:
    """The LDAP target. Thread-safe: one lock serialises use of the connection."""

    def __init__(
        self, config: LdapConfig, *, name: str = "ldap", add_window: int = ADD_WINDOW
    ) -> None:
        self.config = config
        self._name = name
        self._connection = Connection(config, name)
        self._reader = Reader(self._connection)
        self.add_window = max(1, add_window)
        # Normalised DNs of hub groups known to exist as groupOfURLs (made or checked
        # by this connector), so a batch ensures only groups it has not seen.
        self._groups: set[str] = set()

    def __repr__(self) -> str:
        return f"LdapConnector({self._name!r}, url={self.config.url!r})"

    @property
    def name(self) -> str:
        return self._name

    def capabilities(self) -> frozenset[str]:
        return frozenset(
            {
                Capability.READ,
                Capability.SCAN,
                Capability.CREATE,
                Capability.MODIFY,
                Capability.MOVE,
                Capability.RENAME,
                Capability.DISABLE,
                Capability.DELETE,
                Capability.GROUPS,
                Capability.CONTAINERS,
            }
        )

    def close(self) -> None:
        """Unbind; the next call opens a new connection."""
        self._connection.close()

    # ------------------------------------------------------------------ reads

    def check(self) -> Health:
        """Bind (reusing the open connection) and read the base entry."""
        started = time.perf_counter()
        try:
            self._connection.call("read base entry", self._reader.read_base)
        except ConnectorError as exc:
            return Health(False, str(exc), (time.perf_counter() - started) * 1000)
        return Health(
            True,
            f"bound to {self.config.url} as {self.config.bind_dn}; {self.config.base_dn} present",
            (time.perf_counter() - started) * 1000,
        )

    def read(self, key: AccountKey) -> Account | None:
        """Find the object with this correlation key; Conflict if two entries claim it."""
        return self.read_many([key]).get(key)

    def read_many(self, keys: Sequence[AccountKey]) -> dict[AccountKey, Account]:
        """The objects for many keys, one search per READ_CHUNK keys of a kind (an OR
        filter of escaped values). Keys with no entry are absent from the result; a
        person's `groups` come from idhubMemberOf (normalised DNs), other kinds get None.

        Raises DuplicateKeys (a Conflict) if entries claim a key twice; it carries the
        accounts read for all other keys.
        """
        return self._reader.read_many(keys)

    def scan(self) -> Iterator[Account]:
        """Every idhubPerson entry under the base, page by page (PAGE_SIZE per page),
        with its groups from idhubMemberOf."""
        return self._reader.scan()

    def containers(self) -> set[str]:
        """Normalised DNs of every organizationalUnit under the base (the base too, if
        it is one)."""
        return self._reader.containers()

    def unit_containers(self) -> dict[str, str]:
        """Every OU that mirrors an org unit: DN → the unit's id (idhubUnitId)."""
        return self._reader.unit_containers()

    def managed_groups(self) -> set[str]:
        """Normalised DNs of the groups whose membership the hub manages
        (idhubGroup with idhubManaged=TRUE)."""
        found, dynamic = self._reader.managed_groups()
        with self._connection.lock:
            self._groups = dynamic  # what is really there now
        return found

    # ------------------------------------------------------------------ writes

    def apply(self, ops: Sequence[Operation]) -> list[Result]:
        """Apply a batch; one Result per operation, in the same order.

        Entry operations (create, modify, move, …) run in order; runs of consecutive
        creates, and of moves, renames, modifies, disables and enables, are pipelined
        (`add_window` operations in flight). The member changes of one person (the last
        word per group counts) are written with its create or modify in this batch,
        else in one modify of its own after the entry operations; the groups they add
        to are made (groupOfURLs) at the end if they are new.

        Every operation is idempotent (a create finding its own entry, a delete finding
        nothing, a member already there … are successes), so a batch may be applied
        again after a failure. A per-operation failure is the Result's `error`; when the
        server itself goes away (down, timed out, busy) this raises TargetUnavailable and
        the caller retries the whole batch.
        """
        with self._connection.lock:
            writer = Writer(
                self._connection,
                self._reader,
                ops,
                window=self.add_window,
                known_groups=self._groups,
            )
            return writer.run()

    def remove_empty_containers(self, dns: Sequence[str]) -> list[str]:
        """Delete these OUs, deepest first, each only if nothing is left below it.

        An OU that still holds entries, or is already gone, is skipped: removal is
        level-triggered, so it happens on a later call once its people have moved.
        Returns the DNs removed.
        """
        removed: list[str] = []
        for dn in sorted(dns, key=lambda d: len(dn_key(d)), reverse=True):
            try:
                self._connection.raw(f"delete {dn}", deleter(dn))
            except (ldap.NOT_ALLOWED_ON_NONLEAF, ldap.NO_SUCH_OBJECT):
                continue
            except ldap.LDAPError as exc:
                raise map_error(exc, f"{self._name}: delete {dn}") from exc
            removed.append(dn)
        return removed

    def set_password_hash(self, key: AccountKey, password_hash: str) -> str:
        """Replace the userPassword of the entry with this key by a hash made elsewhere
        (``{ARGON2}$argon2id$…`` from argon2-cffi: slapd verifies it, so Dovecot's
        auth_bind accepts it). The connector never sees a password. Returns the DN;
        InvalidData when no entry has the key or the value is not a scheme-tagged hash."""
        if not password_hash.startswith("{") or "}" not in password_hash[:16]:
            raise InvalidData(f"{self._name}: a password hash must start with {{SCHEME}}")
        account = self.read(key)
        if account is None:
            raise InvalidData(f"{self._name}: no entry carries {key}")
        mods = [(ldap.MOD_REPLACE, "userPassword", [password_hash.encode("utf-8")])]
        self._connection.call(
            f"set the password of {account.name}",
            lambda conn: conn.modify_s(account.name, mods),
        )
        return account.name

    def set_mail_credentials(
        self, key: AccountKey, *, uid: str | None, active: bool, values: Sequence[str]
    ) -> str | None:
        """The person's app-password hashes for Dovecot (connectors/ldap/mail_credentials.py)."""
        return set_mail_credentials(
            self._connection, self.config.base_dn, key, uid=uid, active=active, values=values
        )


if TYPE_CHECKING:  # mypy proves the protocols hold

    def _conforms(
        c: LdapConnector,
    ) -> tuple[
        Connector,
        ReadsManyAccounts,
        ManagesContainers,
        ManagesGroups,
        SetsPasswords,
        SetsMailCredentials,
    ]:
        return c, c, c, c, c, c
