"""Reads from the directory: accounts by key (one OR filter per chunk of keys), paged
scans, containers and managed groups, and the lookups the writer makes by key or DN.

Every value put into a filter goes through ldap.filter.escape_filter_chars.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import ldap
import ldap.filter
from ldap.controls import SimplePagedResultsControl

from connectors.base import (
    Account,
    AccountKey,
    Conflict,
    DuplicateKeys,
    KeyKind,
    TargetMisconfigured,
)
from connectors.dn import fold, normalize_dn
from connectors.ldap.connection import Conn, Connection
from connectors.ldap.entries import KEY_LOOKUP, Decoded, Entry, decode, key_filter, to_account

PAGE_SIZE = 500
READ_CHUNK = 200
"""Keys per search in read_many: one OR filter of this many terms (well under the
default size limit of 500 entries for non-root binds)."""


class Reader:
    """Searches under the base DN, on the connector's connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.config = connection.config
        self.name = connection.name

    # ------------------------------------------------------------------ base

    def no_base(self) -> TargetMisconfigured:
        return TargetMisconfigured(f"{self.name}: base DN {self.config.base_dn} does not exist")

    def read_base(self, conn: Conn) -> None:
        try:
            conn.search_ext_s(
                self.config.base_dn,
                ldap.SCOPE_BASE,
                "(objectClass=*)",
                ["1.1"],
                timeout=self.config.timeout_s,
            )
        except ldap.NO_SUCH_OBJECT as exc:
            raise self.no_base() from exc

    def search(self, conn: Conn, flt: str, attrs: list[str]) -> list[tuple[str, Entry]]:
        try:
            rows = conn.search_ext_s(
                self.config.base_dn,
                ldap.SCOPE_SUBTREE,
                flt,
                attrs,
                timeout=self.config.timeout_s,
            )
        except ldap.NO_SUCH_OBJECT as exc:
            raise self.no_base() from exc
        return [(dn, entry) for dn, entry in rows if dn is not None]  # drop referrals

    def _searcher(self, flt: str, attrs: list[str]) -> Callable[[Conn], list[tuple[str, Entry]]]:
        return lambda conn: self.search(conn, flt, attrs)

    # ------------------------------------------------------------------ accounts

    def read_many(self, keys: Sequence[AccountKey]) -> dict[AccountKey, Account]:
        """See LdapConnector.read_many."""
        found: dict[AccountKey, list[Account]] = {}
        by_kind: dict[KeyKind, list[AccountKey]] = {}
        for key in dict.fromkeys(keys):
            by_kind.setdefault(key.kind, []).append(key)
        for kind, kind_keys in by_kind.items():
            object_class, attribute = KEY_LOOKUP[kind]
            attrs = ["*"]
            for start in range(0, len(kind_keys), READ_CHUNK):
                chunk = kind_keys[start : start + READ_CHUNK]
                wanted = {fold(k.id): k for k in chunk}
                terms = "".join(
                    f"({attribute}={ldap.filter.escape_filter_chars(k.id)})" for k in chunk
                )
                flt = f"(&(objectClass={object_class})(|{terms}))"
                rows = self.connection.call(
                    f"search {len(chunk)} {kind} keys", self._searcher(flt, attrs)
                )
                for dn, entry in rows:
                    decoded = decode(entry)
                    _, values = decoded.get(attribute.casefold(), ("", ()))
                    for value in values:
                        match = wanted.get(fold(value))
                        if match is not None:
                            account = to_account(self.name, dn, decoded, kind, match)
                            found.setdefault(match, []).append(account)
                            break
        accounts = {key: hits[0] for key, hits in found.items() if len(hits) == 1}
        duplicates = {key: [a.name for a in hits] for key, hits in found.items() if len(hits) > 1}
        if duplicates:
            message = "; ".join(
                f"{self.name}: {len(dns)} entries claim {key}: {'; '.join(dns)}"
                for key, dns in duplicates.items()
            )
            raise DuplicateKeys(message, accounts, duplicates)
        return accounts

    def scan(self) -> Iterator[Account]:
        for dn, entry in self.paged("(objectClass=idhubPerson)", ["*"]):
            yield to_account(self.name, dn, decode(entry), KeyKind.PERSON)

    # ------------------------------------------------------------------ containers, groups

    def containers(self) -> set[str]:
        return {
            normalize_dn(dn) for dn, _ in self.paged("(objectClass=organizationalUnit)", ["1.1"])
        }

    def unit_containers(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for dn, entry in self.paged("(objectClass=idhubOrgUnit)", ["idhubUnitId"]):
            _, values = decode(entry).get("idhubunitid", ("", ()))
            if values:
                found[dn] = values[0]
        return found

    def managed_groups(self) -> tuple[set[str], set[str]]:
        """(normalised DNs of the managed hub groups, those of them that are dynamic)."""
        flt = "(&(objectClass=idhubGroup)(idhubManaged=TRUE))"
        found: set[str] = set()
        dynamic: set[str] = set()
        for dn, entry in self.paged(flt, ["objectClass"]):
            found.add(normalize_dn(dn))
            classes = entry.get("objectClass", [])
            if any(v.lower() == b"groupofurls" for v in classes):
                dynamic.add(normalize_dn(dn))
        return found, dynamic

    # ------------------------------------------------------------------ paging

    def paged(self, flt: str, attrs: list[str]) -> Iterator[tuple[str, Entry]]:
        """Simple paged results (RFC 2696). The lock is held per page, not across
        yields, so a consumer may call read() while scanning. A cookie belongs to one
        connection, so a dropped connection mid-scan is TargetUnavailable, not a retry."""
        control = SimplePagedResultsControl(True, size=PAGE_SIZE, cookie=b"")

        def page(conn: Conn) -> tuple[list[Any], bytes]:
            try:
                msgid = conn.search_ext(
                    self.config.base_dn,
                    ldap.SCOPE_SUBTREE,
                    flt,
                    attrs,
                    serverctrls=[control],
                )
                _type, rows, _msgid, ctrls = conn.result3(msgid, timeout=self.config.timeout_s)
            except ldap.NO_SUCH_OBJECT as exc:
                raise self.no_base() from exc
            cookie = b""
            for ctrl in ctrls:
                if ctrl.controlType == SimplePagedResultsControl.controlType:
                    cookie = ctrl.cookie
            return rows, cookie

        finished = False
        try:
            while True:
                first = not control.cookie
                rows, cookie = self.connection.call(f"paged search {flt}", page, reconnect=first)
                for dn, entry in rows:
                    if dn is not None:
                        yield dn, entry
                if not cookie:
                    finished = True
                    return
                control.cookie = cookie
        finally:
            if not finished and control.cookie:
                self._abandon_paged(flt, control)

    def _abandon_paged(self, flt: str, control: SimplePagedResultsControl) -> None:
        """Tell the server we stopped early (page size 0), so it frees the search."""
        control.size = 0
        conn = self.connection
        with conn.lock, contextlib.suppress(ldap.LDAPError):
            if conn.current is not None:
                msgid = conn.current.search_ext(
                    self.config.base_dn, ldap.SCOPE_SUBTREE, flt, ["1.1"], serverctrls=[control]
                )
                conn.current.result3(msgid, timeout=self.config.timeout_s)

    # ------------------------------------------------------------------ writer's lookups

    def find(self, key: AccountKey) -> str | None:
        """The DN holding `key` now, by a search; Conflict if several do. Errors other
        than the server going away come out as python-ldap raised them."""
        object_class, _ = KEY_LOOKUP[key.kind]
        flt = f"(&(objectClass={object_class}){key_filter(key)})"
        rows = self.connection.raw(f"search {key}", self._searcher(flt, ["1.1"]))
        if len(rows) > 1:
            names = "; ".join(dn for dn, _ in rows)
            raise Conflict(f"{self.name}: {len(rows)} entries claim {key}: {names}")
        return rows[0][0] if rows else None

    def read_entry(self, dn: str, attrs: list[str]) -> Decoded | None:
        """The entry at `dn` (these attributes), None if there is none."""
        timeout = self.config.timeout_s

        def read(conn: Conn) -> list[tuple[str, Entry]]:
            try:
                rows = conn.search_ext_s(
                    dn, ldap.SCOPE_BASE, "(objectClass=*)", attrs, timeout=timeout
                )
            except ldap.NO_SUCH_OBJECT:
                return []
            return [(found, entry) for found, entry in rows if found is not None]

        rows = self.connection.raw(f"read {dn}", read)
        return decode(rows[0][1]) if rows else None

    def holds_key(self, dn: str, key: AccountKey) -> bool | None:
        """Does the entry at `dn` carry `key`? None if there is no entry there."""
        _, attribute = KEY_LOOKUP[key.kind]
        entry = self.read_entry(dn, [attribute])
        if entry is None:
            return None
        _, values = entry.get(attribute.casefold(), ("", ()))
        return fold(key.id) in {fold(v) for v in values}
