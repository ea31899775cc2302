"""LDAP connector (python-ldap): reads and, later, writes accounts under one base DN.

One persistent connection, opened on first use and reopened once when the server
dropped it (slapd restarts, idle timeouts). Every value put into a filter goes through
ldap.filter.escape_filter_chars; every python-ldap exception leaves this module as a
connectors.base error. Messages never contain the bind password.

Error mapping (see `_map_error`):
  server down / timeout / busy              → TargetUnavailable (retry later)
  invalid credentials / no rights / no base → TargetMisconfigured (a TargetUnavailable:
                                              jobs wait for an admin to fix the settings)
  entry exists / non-leaf / duplicate key   → Conflict
  schema and syntax violations              → InvalidData
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import ldap
import ldap.dn
import ldap.filter
import ldap.ldapobject
from ldap.controls import SimplePagedResultsControl

from connectors.base import (
    Account,
    AccountKey,
    Capability,
    Conflict,
    Connector,
    ConnectorError,
    Health,
    InvalidData,
    KeyKind,
    Operation,
    Result,
    TargetMisconfigured,
    TargetUnavailable,
)

T = TypeVar("T")

PAGE_SIZE = 500

# How each kind of key is found: (structural/auxiliary class, key attribute).
_KEY_LOOKUP: dict[KeyKind, tuple[str, str]] = {
    KeyKind.PERSON: ("idhubPerson", "idhubPersonId"),
    KeyKind.UNIT: ("idhubOrgUnit", "idhubUnitId"),
    KeyKind.GROUP: ("groupOfNames", "cn"),
}

# Never copied into an Account: hashes have no business in plans, previews or logs.
_SECRET_ATTRIBUTES = frozenset({"userpassword"})

_UNAVAILABLE: tuple[type[ldap.LDAPError], ...] = (
    ldap.SERVER_DOWN,
    ldap.TIMEOUT,
    ldap.CONNECT_ERROR,
    ldap.BUSY,
    ldap.UNAVAILABLE,
    ldap.TIMELIMIT_EXCEEDED,
    ldap.ADMINLIMIT_EXCEEDED,
)
_MISCONFIGURED: tuple[type[ldap.LDAPError], ...] = (
    ldap.INVALID_CREDENTIALS,
    ldap.INAPPROPRIATE_AUTH,
    ldap.INSUFFICIENT_ACCESS,
    ldap.STRONG_AUTH_REQUIRED,
    ldap.CONFIDENTIALITY_REQUIRED,
)
_CONFLICT: tuple[type[ldap.LDAPError], ...] = (
    ldap.ALREADY_EXISTS,
    ldap.NOT_ALLOWED_ON_NONLEAF,
    ldap.TYPE_OR_VALUE_EXISTS,
)
_INVALID: tuple[type[ldap.LDAPError], ...] = (
    ldap.INVALID_SYNTAX,
    ldap.INVALID_DN_SYNTAX,
    ldap.OBJECT_CLASS_VIOLATION,
    ldap.NO_OBJECT_CLASS_MODS,
    ldap.UNDEFINED_TYPE,
    ldap.NAMING_VIOLATION,
    ldap.CONSTRAINT_VIOLATION,
    ldap.NOT_ALLOWED_ON_RDN,
    ldap.NO_SUCH_ATTRIBUTE,
    ldap.NO_SUCH_OBJECT,
    ldap.UNWILLING_TO_PERFORM,
    ldap.FILTER_ERROR,
    ldap.DECODING_ERROR,
    ldap.ENCODING_ERROR,
)


@dataclass(frozen=True)
class LdapConfig:
    """Where the directory is and how the hub binds to it."""

    url: str
    base_dn: str
    bind_dn: str
    password: str = field(repr=False)
    timeout_s: float = 3.0


def _describe(exc: ldap.LDAPError) -> str:
    """'desc (info)' from a python-ldap exception (which never carries the password)."""
    details: Any = exc.args[0] if exc.args else {}
    if isinstance(exc, ldap.TIMEOUT) and not details:  # raised client-side, with no args
        return "Timed out waiting for the server"
    if not isinstance(details, dict):
        return str(details) or type(exc).__name__
    desc = str(details.get("desc") or type(exc).__name__)
    info = details.get("info")
    return f"{desc} ({info})" if info else desc


def _map_error(exc: ldap.LDAPError, what: str) -> ConnectorError:
    """Turn a python-ldap exception into the typed error the worker acts on."""
    message = f"{what}: {_describe(exc)}"
    if isinstance(exc, _MISCONFIGURED):
        return TargetMisconfigured(message)
    if isinstance(exc, _UNAVAILABLE):
        return TargetUnavailable(message)
    if isinstance(exc, _CONFLICT):
        return Conflict(message)
    if isinstance(exc, _INVALID):
        return InvalidData(message)
    return ConnectorError(message)


def _norm_dn(dn: str) -> str:
    """Comparable form of a DN: canonical escaping, lower case (our naming attributes —
    dc, ou, cn, uid — all match case-insensitively)."""
    try:
        return str(ldap.dn.dn2str(ldap.dn.str2dn(dn))).lower()
    except ldap.DECODING_ERROR:
        return dn.lower()


class LdapConnector:
    """The LDAP target. Thread-safe: one lock serialises use of the connection."""

    def __init__(self, config: LdapConfig, *, name: str = "ldap") -> None:
        self.config = config
        self._name = name
        self._conn: ldap.ldapobject.LDAPObject | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"LdapConnector({self._name!r}, url={self.config.url!r})"

    @property
    def name(self) -> str:
        return self._name

    def capabilities(self) -> frozenset[str]:
        return frozenset({Capability.READ, Capability.SCAN})

    # ------------------------------------------------------------------ connection

    def _open(self) -> ldap.ldapobject.LDAPObject:
        cfg = self.config
        try:
            conn = ldap.initialize(cfg.url)
        except ldap.LDAPError as exc:
            raise _map_error(exc, f"{self._name}: bad URL {cfg.url!r}") from exc
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, ldap.VERSION3)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, cfg.timeout_s)
        conn.set_option(ldap.OPT_TIMEOUT, cfg.timeout_s)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        try:
            conn.simple_bind_s(cfg.bind_dn, cfg.password)
        except ldap.LDAPError as exc:
            with contextlib.suppress(ldap.LDAPError):
                conn.unbind_s()
            raise _map_error(exc, f"{self._name}: bind to {cfg.url} as {cfg.bind_dn}") from exc
        return conn

    def close(self) -> None:
        """Unbind; the next call opens a new connection."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(ldap.LDAPError):
                    conn.unbind_s()

    def _call(
        self, what: str, fn: Callable[[ldap.ldapobject.LDAPObject], T], *, reconnect: bool = True
    ) -> T:
        """Run fn on the connection; reopen once if the server had dropped it.

        Only for operations that are safe to send twice: reads, and (later) writes whose
        replay the planner tolerates because it recomputes from the target's state.
        """
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    self._conn = self._open()
                try:
                    return fn(self._conn)
                except ldap.SERVER_DOWN as exc:
                    self.close()
                    if attempt == 2 or not reconnect:
                        raise _map_error(exc, f"{self._name}: {what}") from exc
                except ldap.TIMEOUT as exc:
                    self.close()  # a late answer must not be read as the next one's
                    raise _map_error(exc, f"{self._name}: {what}") from exc
                except ldap.LDAPError as exc:
                    raise _map_error(exc, f"{self._name}: {what}") from exc
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ contract

    def check(self) -> Health:
        """Bind (reusing the open connection) and read the base entry."""
        started = time.perf_counter()
        try:
            self._call("read base entry", self._read_base)
        except ConnectorError as exc:
            return Health(False, str(exc), (time.perf_counter() - started) * 1000)
        return Health(
            True,
            f"bound to {self.config.url} as {self.config.bind_dn}; {self.config.base_dn} present",
            (time.perf_counter() - started) * 1000,
        )

    def read(self, key: AccountKey) -> Account | None:
        """Find the object with this correlation key; Conflict if two entries claim it."""
        object_class, attribute = _KEY_LOOKUP[key.kind]
        flt = (
            f"(&(objectClass={object_class})"
            f"({attribute}={ldap.filter.escape_filter_chars(key.id)}))"
        )
        found = self._call(f"search {key}", lambda c: self._search(c, flt, ["*"]))
        if not found:
            return None
        if len(found) > 1:
            names = "; ".join(dn for dn, _ in found)
            raise Conflict(f"{self._name}: {len(found)} entries claim {key}: {names}")
        dn, entry = found[0]
        groups: frozenset[str] | None = None
        if key.kind is KeyKind.PERSON:
            member = ldap.filter.escape_filter_chars(dn)
            group_flt = f"(&(objectClass=groupOfNames)(member={member}))"
            rows = self._call(f"groups of {key}", lambda c: self._search(c, group_flt, ["1.1"]))
            groups = frozenset(group_dn for group_dn, _ in rows)
        return self._account(dn, entry, key.kind, groups, key=key)

    def scan(self) -> Generator[Account, None, None]:
        """Every idhubPerson entry under the base, page by page (500 per page)."""
        memberships: dict[str, set[str]] = {}
        for group_dn, entry in self._paged("(objectClass=groupOfNames)", ["member"]):
            for member in entry.get("member", ()):
                memberships.setdefault(_norm_dn(member.decode()), set()).add(group_dn)
        for dn, entry in self._paged("(objectClass=idhubPerson)", ["*"]):
            groups = frozenset(memberships.get(_norm_dn(dn), ()))
            yield self._account(dn, entry, KeyKind.PERSON, groups)

    def apply(self, ops: Sequence[Operation]) -> list[Result]:
        """Writes come with the provisioning issue; until then every operation is
        refused as unsupported (the planner only emits what capabilities() lists)."""
        return [
            Result(op, InvalidData(f"{self._name}: {op.kind} is not supported yet")) for op in ops
        ]

    # ------------------------------------------------------------------ helpers

    def _no_base(self) -> TargetMisconfigured:
        return TargetMisconfigured(f"{self._name}: base DN {self.config.base_dn} does not exist")

    def _read_base(self, conn: ldap.ldapobject.LDAPObject) -> None:
        try:
            conn.search_ext_s(
                self.config.base_dn,
                ldap.SCOPE_BASE,
                "(objectClass=*)",
                ["1.1"],
                timeout=self.config.timeout_s,
            )
        except ldap.NO_SUCH_OBJECT as exc:
            raise self._no_base() from exc

    def _search(
        self, conn: ldap.ldapobject.LDAPObject, flt: str, attrs: list[str]
    ) -> list[tuple[str, dict[str, list[bytes]]]]:
        try:
            rows = conn.search_ext_s(
                self.config.base_dn,
                ldap.SCOPE_SUBTREE,
                flt,
                attrs,
                timeout=self.config.timeout_s,
            )
        except ldap.NO_SUCH_OBJECT as exc:
            raise self._no_base() from exc
        return [(dn, entry) for dn, entry in rows if dn is not None]  # drop referrals

    def _paged(self, flt: str, attrs: list[str]) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
        """Simple paged results (RFC 2696). The lock is held per page, not across
        yields, so a consumer may call read() while scanning. A cookie belongs to one
        connection, so a dropped connection mid-scan is TargetUnavailable, not a retry."""
        control = SimplePagedResultsControl(True, size=PAGE_SIZE, cookie=b"")

        def page(conn: ldap.ldapobject.LDAPObject) -> tuple[list[Any], bytes]:
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
                raise self._no_base() from exc
            cookie = b""
            for ctrl in ctrls:
                if ctrl.controlType == SimplePagedResultsControl.controlType:
                    cookie = ctrl.cookie
            return rows, cookie

        finished = False
        try:
            while True:
                first = not control.cookie
                rows, cookie = self._call(f"paged search {flt}", page, reconnect=first)
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
        with self._lock, contextlib.suppress(ldap.LDAPError):
            if self._conn is not None:
                msgid = self._conn.search_ext(
                    self.config.base_dn, ldap.SCOPE_SUBTREE, flt, ["1.1"], serverctrls=[control]
                )
                self._conn.result3(msgid, timeout=self.config.timeout_s)

    def _account(
        self,
        dn: str,
        entry: dict[str, list[bytes]],
        kind: KeyKind,
        groups: frozenset[str] | None,
        *,
        key: AccountKey | None = None,
    ) -> Account:
        """Decode an entry (its key from the key attribute unless given). Values that are
        not UTF-8 (photos, certificates) are left out: the hub manages text only."""
        attributes: dict[str, tuple[str, ...]] = {}
        for name, raw_values in entry.items():
            if name.lower() in _SECRET_ATTRIBUTES:
                continue
            try:
                attributes[name] = tuple(value.decode("utf-8") for value in raw_values)
            except UnicodeDecodeError:
                continue
        account = Account(key or AccountKey("?", kind), dn, attributes, groups)
        if key is None:
            _, key_attribute = _KEY_LOOKUP[kind]
            values = account.get(key_attribute)
            if not values:
                raise InvalidData(f"{self._name}: {dn} has no {key_attribute}")
            account = Account(AccountKey(values[0], kind), dn, account.attributes, groups)
        return account


if TYPE_CHECKING:

    def _conforms(connector: LdapConnector) -> Connector:  # mypy proves the Protocol holds
        return connector
