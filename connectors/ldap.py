"""LDAP connector (python-ldap): reads and writes accounts, org-unit containers and
group memberships under one base DN.

One persistent connection, opened on first use and reopened once when the server
dropped it (slapd restarts, idle timeouts). Every value put into a filter goes through
ldap.filter.escape_filter_chars; DNs come from the planner already escaped and are
only ever parsed here with ldap.dn (never built by string surgery on values). Every
python-ldap exception leaves this module as a connectors.base error. Messages never
contain the bind password.

Error mapping (see `_map_error`):
  server down / timeout / busy              → TargetUnavailable (retry later)
  invalid credentials / no rights / no base → TargetMisconfigured (a TargetUnavailable:
                                              jobs wait for an admin to fix the settings)
  entry exists / non-leaf / duplicate key   → Conflict
  schema and syntax violations              → InvalidData

Group membership is kept on the member (config/ldap/slapd.conf.tmpl explains why):
  * a person's groups are the group DNs in its `idhubMemberOf` (read as
    Account.groups, normalised); add_member / remove_member change that attribute,
    folded into the person's create or modify of the same batch when there is one;
  * a hub group is a groupOfURLs + idhubGroup whose memberURL selects the entries
    naming it; slapd's dynlist overlay expands it into `member` (and `memberOf` on the
    members) for other clients. The connector creates it on first use.
So a move, rename or delete of a person never writes to a group, and no overlay
rewrites anything behind the connector's back: every operation may carry an LDAP
assertion of the entry's key instead of a read before it.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import ldap
import ldap.dn
import ldap.filter
import ldap.ldapobject
import ldapurl
from ldap.controls import SimplePagedResultsControl
from ldap.controls.libldap import AssertionControl

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
    OpKind,
    Result,
    TargetMisconfigured,
    TargetUnavailable,
)

__all__ = [
    "DuplicateKeys",
    "LdapConfig",
    "LdapConnector",
    "normalize_dn",
]

T = TypeVar("T")

PAGE_SIZE = 500
READ_CHUNK = 200
"""Keys per search in read_many: one OR filter of this many terms (well under the
default size limit of 500 entries for non-root binds)."""

ADD_WINDOW = 16
"""Asynchronous adds kept in flight for a run of creates (1 = synchronous)."""

MEMBER_ATTRIBUTE = "idhubMemberOf"
"""On a member entry: the DNs of the hub groups it belongs to."""

# How each kind of key is found: (structural/auxiliary class, key attribute).
_KEY_LOOKUP: dict[KeyKind, tuple[str, str]] = {
    KeyKind.PERSON: ("idhubPerson", "idhubPersonId"),
    KeyKind.UNIT: ("idhubOrgUnit", "idhubUnitId"),
    KeyKind.GROUP: ("idhubGroup", "cn"),
    KeyKind.SEAT: ("idhubSeat", "idhubSeatId"),
}

# Never copied into an Account: hashes have no business in plans, previews or logs.
# Memberships are returned as Account.groups; memberOf (dynlist's view) is never read.
_HIDDEN_ATTRIBUTES = frozenset({"userpassword", "memberof", MEMBER_ATTRIBUTE.casefold()})

_UNAVAILABLE: tuple[type[ldap.LDAPError], ...] = (
    ldap.SERVER_DOWN,
    ldap.TIMEOUT,
    ldap.CONNECT_ERROR,
    ldap.BUSY,
    ldap.UNAVAILABLE,
    ldap.TIMELIMIT_EXCEEDED,
    ldap.ADMINLIMIT_EXCEEDED,
)
# The server (not one operation) is gone or refuses work: apply() stops the batch.
_BATCH_FATAL: tuple[type[ldap.LDAPError], ...] = (
    ldap.SERVER_DOWN,
    ldap.TIMEOUT,
    ldap.CONNECT_ERROR,
    ldap.BUSY,
    ldap.UNAVAILABLE,
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
    ldap.ASSERTION_FAILED,
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
    ldap.INAPPROPRIATE_MATCHING,
    ldap.UNAVAILABLE_CRITICAL_EXTENSION,
)


@dataclass(frozen=True)
class LdapConfig:
    """Where the directory is and how the hub binds to it."""

    url: str
    base_dn: str
    bind_dn: str
    password: str = field(repr=False)
    timeout_s: float = 3.0


class DuplicateKeys(Conflict):
    """Several entries claim one correlation key (read_many).

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


# ---------------------------------------------------------------------- DNs


def _fold(value: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())


@functools.lru_cache(maxsize=65536)  # group and unit DNs recur in every batch
def normalize_dn(dn: str) -> str:
    """The form in which this connector compares DNs and reports them (Account.groups,
    containers(), managed_groups()).

    Parsed with python-ldap (so `\\2C` and `\\,`, hex-escaped UTF-8 and the letters
    themselves are all one thing), attribute types and values case-folded (the naming
    attributes the hub uses — dc, ou, cn, uid — all match case-insensitively), values
    NFC, the AVAs of a multi-valued RDN sorted, and re-joined in python-ldap's escaping.
    The same result as provisioning.dn.normalize_dn (this layer may not import it).
    For comparing only: never write it to the directory. ValueError for a malformed DN.
    """
    try:
        parsed = ldap.dn.str2dn(dn)
    except ldap.DECODING_ERROR:
        raise ValueError(f"not a valid DN: {dn!r}") from None
    folded = [
        sorted((attr.casefold(), _fold(value or ""), 1) for attr, value, _flags in one_rdn)
        for one_rdn in parsed
    ]
    return str(ldap.dn.dn2str(folded))


def _split(dn: str) -> tuple[str, str]:
    """(first RDN, parent DN), both re-escaped by python-ldap; ValueError if malformed."""
    try:
        parsed = ldap.dn.str2dn(dn)
    except ldap.DECODING_ERROR:
        raise ValueError(f"not a valid DN: {dn!r}") from None
    if not parsed:
        raise ValueError("the empty DN has no RDN")
    return str(ldap.dn.dn2str(parsed[:1])), str(ldap.dn.dn2str(parsed[1:]))


def _fast_split(dn: str) -> tuple[str, str]:
    """(first RDN, parent DN) as written, cut at the first comma that is not escaped; no
    re-escaping, so the server sees exactly the DN's own spelling."""
    escaped = False
    for i, ch in enumerate(dn):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            return dn[:i], dn[i + 1 :]
    raise ValueError(f"{dn!r} has no parent")


_DnKey = tuple[tuple[tuple[str, str], ...], ...]


def _deleter(dn: str) -> Callable[[Conn], None]:
    return lambda conn: conn.delete_s(dn)


@functools.lru_cache(maxsize=65536)  # each DN of a batch is compared several times
def _dn_key(dn: str) -> _DnKey:
    """normalize_dn's equivalence without re-escaping (cheaper, for the hot paths):
    RDNs of sorted (type, value) pairs, case-folded and NFC. ValueError if malformed."""
    try:
        parsed = ldap.dn.str2dn(dn)
    except ldap.DECODING_ERROR:
        raise ValueError(f"not a valid DN: {dn!r}") from None
    return tuple(
        tuple(sorted((attr.casefold(), _fold(value or "")) for attr, value, _ in one_rdn))
        for one_rdn in parsed
    )


def _same_dn(a: str, b: str) -> bool:
    try:
        return _dn_key(a) == _dn_key(b)
    except ValueError:
        return False


def _text(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()


def _encode(attributes: Iterable[tuple[str, Sequence[str]]]) -> list[tuple[str, list[bytes]]]:
    return [(name, [v.encode("utf-8") for v in values]) for name, values in attributes if values]


# ---------------------------------------------------------------------- connector

Conn: TypeAlias = ldap.ldapobject.LDAPObject
Entry: TypeAlias = dict[str, list[bytes]]
_Decoded: TypeAlias = dict[str, tuple[str, tuple[str, ...]]]  # folded name → (name, values)
_What: TypeAlias = str | Callable[[], str]  # a description, built only if needed
_Action: TypeAlias = Callable[[Conn, str, list[AssertionControl]], None]  # on (conn, DN)


class LdapConnector:
    """The LDAP target. Thread-safe: one lock serialises use of the connection."""

    def __init__(
        self, config: LdapConfig, *, name: str = "ldap", add_window: int = ADD_WINDOW
    ) -> None:
        self.config = config
        self._name = name
        self._conn: Conn | None = None
        self._lock = threading.RLock()
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

    # ------------------------------------------------------------------ connection

    def _open(self) -> Conn:
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

    def _connection(self) -> Conn:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _call(self, what: _What, fn: Callable[[Conn], T], *, reconnect: bool = True) -> T:
        """Run fn on the connection; reopen once if the server had dropped it. Every
        python-ldap error comes out mapped."""
        try:
            return self._raw(what, fn, reconnect=reconnect)
        except ldap.LDAPError as exc:
            raise _map_error(exc, f"{self._name}: {_text(what)}") from exc

    def _raw(self, what: _What, fn: Callable[[Conn], T], *, reconnect: bool = True) -> T:
        """Run fn on the connection; reopen once if the server had dropped it.

        Only for operations that are safe to send twice: reads, and writes that are
        idempotent here (see apply). Connection-level failures (server down, timeout,
        busy) come out as TargetUnavailable; any other python-ldap error is re-raised
        as it is, for the caller to judge.
        """
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    return fn(conn)
                except ldap.SERVER_DOWN as exc:
                    self.close()
                    if attempt == 2 or not reconnect:
                        raise _map_error(exc, f"{self._name}: {_text(what)}") from exc
                except ldap.TIMEOUT as exc:
                    self.close()  # a late answer must not be read as the next one's
                    raise _map_error(exc, f"{self._name}: {_text(what)}") from exc
                except _BATCH_FATAL as exc:
                    self.close()
                    raise _map_error(exc, f"{self._name}: {_text(what)}") from exc
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ contract: reads

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
        return self.read_many([key]).get(key)

    def read_many(self, keys: Sequence[AccountKey]) -> dict[AccountKey, Account]:
        """The objects for many keys, one search per READ_CHUNK keys of a kind (an OR
        filter of escaped values). Keys with no entry are absent from the result; a
        person's `groups` come from idhubMemberOf (normalised DNs), other kinds get None.

        Raises DuplicateKeys (a Conflict) if entries claim a key twice; it carries the
        accounts read for all other keys.
        """
        found: dict[AccountKey, list[Account]] = {}
        by_kind: dict[KeyKind, list[AccountKey]] = {}
        for key in dict.fromkeys(keys):
            by_kind.setdefault(key.kind, []).append(key)
        for kind, kind_keys in by_kind.items():
            object_class, attribute = _KEY_LOOKUP[kind]
            attrs = ["*"]
            for start in range(0, len(kind_keys), READ_CHUNK):
                chunk = kind_keys[start : start + READ_CHUNK]
                wanted = {_fold(k.id): k for k in chunk}
                terms = "".join(
                    f"({attribute}={ldap.filter.escape_filter_chars(k.id)})" for k in chunk
                )
                flt = f"(&(objectClass={object_class})(|{terms}))"
                rows = self._call(f"search {len(chunk)} {kind} keys", self._searcher(flt, attrs))
                for dn, entry in rows:
                    decoded = self._decode(entry)
                    _, values = decoded.get(attribute.casefold(), ("", ()))
                    for value in values:
                        match = wanted.get(_fold(value))
                        if match is not None:
                            account = self._account(dn, decoded, kind, match)
                            found.setdefault(match, []).append(account)
                            break
        accounts = {key: hits[0] for key, hits in found.items() if len(hits) == 1}
        duplicates = {key: [a.name for a in hits] for key, hits in found.items() if len(hits) > 1}
        if duplicates:
            message = "; ".join(
                f"{self._name}: {len(dns)} entries claim {key}: {'; '.join(dns)}"
                for key, dns in duplicates.items()
            )
            raise DuplicateKeys(message, accounts, duplicates)
        return accounts

    def scan(self) -> Generator[Account, None, None]:
        """Every idhubPerson entry under the base, page by page (PAGE_SIZE per page),
        with its groups from idhubMemberOf."""
        for dn, entry in self._paged("(objectClass=idhubPerson)", ["*"]):
            yield self._account(dn, self._decode(entry), KeyKind.PERSON)

    def containers(self) -> set[str]:
        """Normalised DNs of every organizationalUnit under the base (the base too, if
        it is one)."""
        return {
            normalize_dn(dn) for dn, _ in self._paged("(objectClass=organizationalUnit)", ["1.1"])
        }

    def unit_containers(self) -> dict[str, str]:
        """Every OU that mirrors an org unit: DN → the unit's id (idhubUnitId)."""
        found: dict[str, str] = {}
        for dn, entry in self._paged("(objectClass=idhubOrgUnit)", ["idhubUnitId"]):
            _, values = self._decode(entry).get("idhubunitid", ("", ()))
            if values:
                found[dn] = values[0]
        return found

    def remove_empty_containers(self, dns: Sequence[str]) -> list[str]:
        """Delete these OUs, deepest first, each only if nothing is left below it.

        An OU that still holds entries, or is already gone, is skipped: removal is
        level-triggered, so it happens on a later call once its people have moved.
        Returns the DNs removed.
        """
        removed: list[str] = []
        for dn in sorted(dns, key=lambda d: len(_dn_key(d)), reverse=True):
            try:
                self._raw(f"delete {dn}", _deleter(dn))
            except (ldap.NOT_ALLOWED_ON_NONLEAF, ldap.NO_SUCH_OBJECT):
                continue
            except ldap.LDAPError as exc:
                raise _map_error(exc, f"{self._name}: delete {dn}") from exc
            removed.append(dn)
        return removed

    def managed_groups(self) -> set[str]:
        """Normalised DNs of the groups whose membership the hub manages
        (idhubGroup with idhubManaged=TRUE)."""
        flt = "(&(objectClass=idhubGroup)(idhubManaged=TRUE))"
        found: set[str] = set()
        dynamic: set[str] = set()
        for dn, entry in self._paged(flt, ["objectClass"]):
            found.add(normalize_dn(dn))
            classes = entry.get("objectClass", [])
            if any(v.lower() == b"groupofurls" for v in classes):
                dynamic.add(normalize_dn(dn))
        with self._lock:
            self._groups = dynamic  # what is really there now
        return found

    # ------------------------------------------------------------------ contract: writes

    def apply(self, ops: Sequence[Operation]) -> list[Result]:
        """Apply a batch; one Result per operation, in the same order.

        Entry operations (create, modify, move, …) run in order; runs of consecutive
        creates are pipelined (`add_window` adds in flight). The member changes of one
        person (the last word per group counts) are written with its create or modify
        in this batch, else in one modify of its own after the entry operations; the
        groups they add to are made (groupOfURLs) at the end if they are new.

        Every operation is idempotent (a create finding its own entry, a delete finding
        nothing, a member already there … are successes), so a batch may be applied
        again after a failure. A per-operation failure is the Result's `error`; when the
        server itself goes away (down, timed out, busy) this raises TargetUnavailable and
        the caller retries the whole batch.
        """
        with self._lock:
            return _Batch(self, ops).run()

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
        self._call(
            f"set the password of {account.name}",
            lambda conn: conn.modify_s(account.name, mods),
        )
        return account.name

    # ------------------------------------------------------------------ helpers

    def _no_base(self) -> TargetMisconfigured:
        return TargetMisconfigured(f"{self._name}: base DN {self.config.base_dn} does not exist")

    def _read_base(self, conn: Conn) -> None:
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

    def _searcher(self, flt: str, attrs: list[str]) -> Callable[[Conn], list[tuple[str, Entry]]]:
        return lambda conn: self._search(conn, flt, attrs)

    def _search(self, conn: Conn, flt: str, attrs: list[str]) -> list[tuple[str, Entry]]:
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

    def _paged(self, flt: str, attrs: list[str]) -> Iterator[tuple[str, Entry]]:
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

    @staticmethod
    def _decode(entry: Entry) -> _Decoded:
        """casefolded name → (name as returned, UTF-8 values); undecodable values
        (photos, certificates) are left out: the hub manages text only."""
        decoded: _Decoded = {}
        for name, raw_values in entry.items():
            try:
                values = tuple(value.decode("utf-8") for value in raw_values)
            except UnicodeDecodeError:
                continue
            decoded[name.casefold()] = (name, values)
        return decoded

    def _account(
        self, dn: str, decoded: _Decoded, kind: KeyKind, key: AccountKey | None = None
    ) -> Account:
        """An Account from a decoded entry (its key from the key attribute unless
        given); a person's groups from memberOf, normalised."""
        attributes = {
            name: values
            for folded, (name, values) in decoded.items()
            if folded not in _HIDDEN_ATTRIBUTES
        }
        groups: frozenset[str] | None = None
        if kind in (KeyKind.PERSON, KeyKind.SEAT):
            member_of = decoded.get(MEMBER_ATTRIBUTE.casefold(), (MEMBER_ATTRIBUTE, ()))[1]
            groups = frozenset(normalize_dn(group) for group in member_of)
        if key is None:
            _, key_attribute = _KEY_LOOKUP[kind]
            values = decoded.get(key_attribute.casefold(), (key_attribute, ()))[1]
            if not values:
                raise InvalidData(f"{self._name}: {dn} has no {key_attribute}")
            key = AccountKey(values[0], kind)
        return Account(key, dn, attributes, groups)


# ---------------------------------------------------------------------- apply


class _Vanished(Exception):
    """The entry is neither where the plan says nor anywhere else (by its key)."""


class _Broken(Exception):
    """The connection the pipelined adds were sent on is gone."""


@dataclass
class _Membership:
    """The last word of the batch on one (member, group) pair, and the operations
    that said something about it (they share the outcome)."""

    add: bool
    group_dn: str
    ops: list[int]


_Memberships = dict[str, _Membership]  # by normalised group DN, for one member
_Add = tuple[int, str, list[tuple[str, list[bytes]]], _DnKey]  # op index, DN, entry, key
_Mods = list[tuple[int, str, list[bytes] | None]]


def _member_mods(changes: Iterable[_Membership]) -> _Mods:
    adds = [m.group_dn.encode("utf-8") for m in changes if m.add]
    removes = [m.group_dn.encode("utf-8") for m in changes if not m.add]
    mods: _Mods = []
    if adds:
        mods.append((ldap.MOD_ADD, MEMBER_ATTRIBUTE, adds))
    if removes:
        mods.append((ldap.MOD_DELETE, MEMBER_ATTRIBUTE, removes))
    return mods


_PIPELINED = frozenset({OpKind.MOVE, OpKind.RENAME, OpKind.MODIFY, OpKind.DISABLE, OpKind.ENABLE})


class _Batch:
    """One apply() call, and what lives as long as it: where entries are now."""

    def __init__(self, connector: LdapConnector, ops: Sequence[Operation]) -> None:
        self.c = connector
        self.ops = list(ops)
        self.results: list[Result | None] = [None] * len(self.ops)
        # Where this batch put each key (create, move, rename); None after a delete.
        self.located: dict[AccountKey, str | None] = {}
        # Member changes not written yet, by member; those folded into a create wait
        # in `folded` for its outcome (by the create's op index).
        self.memberships: dict[AccountKey, _Memberships] = {}
        self.folded: dict[int, _Memberships] = {}
        self.existed: set[int] = set()  # creates that found their own entry there

    # --------------------------------------------------------------- driver

    def run(self) -> list[Result]:
        self._collect_memberships()
        added_to = {
            norm: m.group_dn
            for changes in self.memberships.values()
            for norm, m in changes.items()
            if m.add
        }
        creates: list[int] = []
        entries: list[int] = []  # a run of entry operations that may be pipelined
        for index, op in enumerate(self.ops):
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
                self._guard(index, self._entry_op)
        if creates:
            self._creates(creates)
        if entries:
            self._entries(entries)
        for target in list(self.memberships):  # members whose entry had no create/modify
            self._write_memberships(target, self.memberships.pop(target))
        self._ensure_groups(added_to)
        return [
            result or Result(op, ConnectorError(f"{self._what(op)}: not applied"))
            for op, result in zip(self.ops, self.results, strict=True)
        ]

    def _collect_memberships(self) -> None:
        for index, op in enumerate(self.ops):
            if op.kind not in (OpKind.ADD_MEMBER, OpKind.REMOVE_MEMBER):
                continue
            assert op.group is not None
            try:
                norm = normalize_dn(op.group)
            except ValueError as exc:
                self.results[index] = Result(op, InvalidData(f"{self._what(op)}: {exc}"))
                continue
            add = op.kind is OpKind.ADD_MEMBER
            changes = self.memberships.setdefault(op.target, {})
            previous = changes.get(norm)
            if previous is None:
                changes[norm] = _Membership(add, op.group, [index])
            else:  # the last word counts
                previous.add = add
                previous.ops.append(index)

    def _what(self, op: Operation, dn: str | None = None) -> str:
        return f"{self.c.name}: {op.kind} {op.target} ({dn or op.name or op.current or '?'})"

    def _guard(self, index: int, handler: Callable[[Operation], Result]) -> None:
        """Run one operation's handler; its failures become its Result, except the
        server going away (TargetUnavailable), which ends the batch."""
        op = self.ops[index]
        try:
            self.results[index] = handler(op)
        except TargetUnavailable:
            raise
        except ConnectorError as exc:
            self.results[index] = Result(op, exc)
        except _Vanished:
            self.results[index] = Result(op, Conflict(f"{self._what(op)}: entry vanished"))
        except ValueError as exc:  # a malformed DN in the operation
            self.results[index] = Result(op, InvalidData(f"{self._what(op)}: {exc}"))
        except ldap.LDAPError as exc:
            self.results[index] = Result(op, _map_error(exc, self._what(op)))

    def _raw(self, what: _What, fn: Callable[[Conn], T]) -> T:
        return self.c._raw(what, fn)

    # --------------------------------------------------------------- lookups

    def _find(self, key: AccountKey) -> str | None:
        """The DN holding `key` now, by a search; Conflict if several do."""
        object_class, attribute = _KEY_LOOKUP[key.kind]
        flt = (
            f"(&(objectClass={object_class})"
            f"({attribute}={ldap.filter.escape_filter_chars(key.id)}))"
        )
        rows = self._raw(f"search {key}", lambda c: self.c._search(c, flt, ["1.1"]))
        if len(rows) > 1:
            names = "; ".join(dn for dn, _ in rows)
            raise Conflict(f"{self.c.name}: {len(rows)} entries claim {key}: {names}")
        return rows[0][0] if rows else None

    def _read_entry(self, dn: str, attrs: list[str]) -> _Decoded | None:
        """The entry at `dn` (these attributes), None if there is none."""
        timeout = self.c.config.timeout_s

        def read(conn: Conn) -> list[tuple[str, Entry]]:
            try:
                rows = conn.search_ext_s(
                    dn, ldap.SCOPE_BASE, "(objectClass=*)", attrs, timeout=timeout
                )
            except ldap.NO_SUCH_OBJECT:
                return []
            return [(found, entry) for found, entry in rows if found is not None]

        rows = self._raw(f"read {dn}", read)
        return LdapConnector._decode(rows[0][1]) if rows else None

    def _holds_key(self, dn: str, key: AccountKey) -> bool | None:
        """Does the entry at `dn` carry `key`? None if there is no entry there."""
        _, attribute = _KEY_LOOKUP[key.kind]
        entry = self._read_entry(dn, [attribute])
        if entry is None:
            return None
        _, values = entry.get(attribute.casefold(), ("", ()))
        return _fold(key.id) in {_fold(v) for v in values}

    def _current(self, op: Operation) -> str | None:
        """Where the operation's entry is: where this batch put it, else where the
        planner read it."""
        if op.target in self.located:
            return self.located[op.target]
        return op.current

    def _at_entry(self, op: Operation, action: _Action) -> str:
        """Run `action` on the operation's entry: where the batch or the planner says it
        is, else (gone from there) wherever its key is now. Returns the DN used; raises
        _Vanished if the key is nowhere.

        The operation carries an LDAP assertion of the key (no extra round trip), so a
        DN that now names someone else's entry (a stale read; a uid given out again) is
        never acted on, but treated like a DN with no entry.
        """
        _, attribute = _KEY_LOOKUP[op.target.kind]
        flt = f"({attribute}={ldap.filter.escape_filter_chars(op.target.id)})"
        controls = [AssertionControl(True, flt)]
        dn = self._current(op)
        found: str | None
        if dn is not None:
            try:
                self._raw(lambda: self._what(op, dn), lambda c: action(c, dn, controls))
                return dn
            except (ldap.NO_SUCH_OBJECT, ldap.ASSERTION_FAILED) as exc:
                found = self._find(op.target)
                if found is not None and _same_dn(found, dn):
                    if isinstance(exc, ldap.ASSERTION_FAILED):  # it changed in between
                        raise Conflict(f"{self._what(op, dn)}: the key check failed") from exc
                    raise  # the entry is there: something else is missing (a new parent)
        else:
            found = self._find(op.target)
        if found is None:
            raise _Vanished
        where = found
        self._raw(lambda: self._what(op, where), lambda c: action(c, where, controls))
        return where

    # --------------------------------------------------------------- entry operations

    def _entry_op(self, op: Operation) -> Result:
        kind = op.kind
        if kind is OpKind.MODIFY:
            changes = self.memberships.pop(op.target, None)
            if changes:
                return self._modify_with_members(op, changes)
            dn = self._at_entry(op, self._modifier(self._attribute_mods(op)))
            return Result(op, name=dn)
        if kind in (OpKind.DISABLE, OpKind.ENABLE):
            status = b"disabled" if kind is OpKind.DISABLE else b"active"
            status_mods: _Mods = [(ldap.MOD_REPLACE, "idhubAccountStatus", [status])]
            dn = self._at_entry(op, self._modifier(status_mods))
            return Result(op, name=dn)
        if kind in (OpKind.MOVE, OpKind.RENAME):
            return self._move(op)
        if kind in (OpKind.DELETE, OpKind.REMOVE_CONTAINER):
            return self._delete(op)
        raise InvalidData(f"{self._what(op)}: not an entry operation")

    @staticmethod
    def _attribute_mods(op: Operation) -> _Mods:
        # Replace with no values removes an attribute, and is no error if it is absent.
        return [
            (ldap.MOD_REPLACE, name, [v.encode("utf-8") for v in values] or None)
            for name, values in op.attributes.items()
        ]

    @staticmethod
    def _modifier(mods: _Mods) -> _Action:
        return lambda conn, dn, ctrls: conn.modify_ext_s(dn, mods, ctrls)

    def _modify_with_members(self, op: Operation, changes: _Memberships) -> Result:
        """The person's attribute changes and member changes in one modify; apart if
        that fails (a member already there, a bad attribute value), so each operation
        gets its own outcome."""
        mods = self._attribute_mods(op) + _member_mods(changes.values())
        try:
            dn = self._at_entry(op, self._modifier(mods))
        except (ldap.LDAPError, ConnectorError, _Vanished) as exc:
            if isinstance(exc, (TargetUnavailable, *_BATCH_FATAL)):
                raise
            self._write_memberships(op.target, changes)
            dn = self._at_entry(op, self._modifier(self._attribute_mods(op)))
            return Result(op, name=dn)
        self._member_results(changes.values(), None)
        return Result(op, name=dn)

    def _move(self, op: Operation) -> Result:
        assert op.name is not None
        target = op.name
        new_rdn, new_parent = _split(target)

        def modrdn(conn: Conn, dn: str, ctrls: list[AssertionControl]) -> None:
            if _same_dn(dn, target):
                return  # already there (a retried batch)
            _, old_parent = _split(dn)
            superior = None if _same_dn(old_parent, new_parent) else new_parent
            conn.rename_s(dn, new_rdn, superior, delold=1, serverctrls=ctrls)

        try:
            self._at_entry(op, modrdn)
        except ldap.ALREADY_EXISTS as exc:
            if not self._holds_key(target, op.target):
                raise Conflict(f"{self._what(op)}: {target} is taken by another entry") from exc
        except ldap.NO_SUCH_OBJECT as exc:
            raise Conflict(f"{self._what(op)}: the new parent {new_parent} does not exist") from exc
        self.located[op.target] = target
        return Result(op, name=target)

    def _delete(self, op: Operation) -> Result:
        try:
            dn: str | None = self._at_entry(op, lambda c, d, ctrls: c.delete_ext_s(d, ctrls))
        except _Vanished:
            dn = None  # nothing to delete: done
        except ldap.NOT_ALLOWED_ON_NONLEAF as exc:
            raise Conflict(f"{self._what(op)}: there are still entries below it") from exc
        self.located[op.target] = None
        return Result(op, name=dn)

    # --------------------------------------------------------------- pipelined entry ops

    def _entries(self, indexes: list[int]) -> None:
        """A run of moves, renames, modifies, disables and enables, pipelined across
        entries: up to add_window operations in flight, one at a time per entry (its
        modify must see its new DN). Each is sent where the batch or the planner says
        the entry is, with the key asserted; one that fails for any reason but the
        server going away is redone synchronously with the full fallbacks (find by key,
        memberships apart), and so is the rest of that entry's chain."""
        if self.c.add_window <= 1 or len(indexes) < 2:
            for index in indexes:
                self._guard(index, self._entry_op)
            return
        chains: dict[AccountKey, deque[int]] = {}
        for index in indexes:
            chains.setdefault(self.ops[index].target, deque()).append(index)
        ready: deque[AccountKey] = deque(chains)
        in_flight: deque[tuple[int, int, str, _Memberships | None]] = deque()
        conn = self.c._connection()
        try:
            while ready or in_flight:
                if not self._on(conn):  # a synchronous redo had to reconnect
                    raise _Broken
                if ready and len(in_flight) < self.c.add_window:
                    target = ready.popleft()
                    index = chains[target].popleft()
                    try:
                        sent = self._send(conn, index)
                    except _BATCH_FATAL:
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
                op = self.ops[index]
                try:
                    conn.result3(msgid, timeout=self.c.config.timeout_s)
                except _BATCH_FATAL:
                    in_flight.appendleft((index, msgid, dn, changes))
                    raise
                except ldap.LDAPError:
                    if changes:
                        self.memberships[op.target] = changes  # written apart by the redo
                    self._redo(index, chains[op.target])
                    continue
                self._sent_ok(index, dn, changes)
                if chains[op.target]:
                    ready.append(op.target)
        except (_Broken, ldap.LDAPError) as exc:
            if not isinstance(exc, (_Broken, *_BATCH_FATAL)):
                raise
            if self._on(conn):
                self.c.close()
            # Outcomes unknown: redo synchronously (a move that landed is found by key).
            for index, _msgid, _dn, changes in in_flight:
                if changes:
                    self.memberships[self.ops[index].target] = changes
                self._redo(index, chains[self.ops[index].target])
            for target in ready:
                while chains[target]:
                    self._guard(chains[target].popleft(), self._entry_op)

    def _redo(self, index: int, rest: deque[int]) -> None:
        self._guard(index, self._entry_op)
        while rest:
            self._guard(rest.popleft(), self._entry_op)

    def _send(self, conn: Conn, index: int) -> tuple[int, str, _Memberships | None] | None:
        """Send one entry operation asynchronously: (msgid, DN used, memberships folded
        into it), or None when it must go the synchronous way."""
        op = self.ops[index]
        dn = self._current(op)
        if dn is None:
            return None
        _, attribute = _KEY_LOOKUP[op.target.kind]
        flt = f"({attribute}={ldap.filter.escape_filter_chars(op.target.id)})"
        controls = [AssertionControl(True, flt)]
        try:
            if op.kind in (OpKind.MOVE, OpKind.RENAME):
                assert op.name is not None
                if dn == op.name:
                    return None  # already there: the synchronous path says so
                # The planner chose: MOVE names a new parent, RENAME keeps it. Naming the
                # parent the entry already has is harmless, so no DN needs comparing here.
                new_rdn, new_parent = _fast_split(op.name)
                superior = new_parent if op.kind is OpKind.MOVE else None
                return conn.rename(dn, new_rdn, superior, 1, controls), dn, None
            if op.kind is OpKind.MODIFY:
                changes = self.memberships.pop(op.target, None)
                mods = self._attribute_mods(op)
                if changes:
                    mods += _member_mods(changes.values())
                try:
                    return conn.modify_ext(dn, mods, controls), dn, changes
                except ldap.LDAPError:
                    if changes:  # not sent: the redo writes them
                        self.memberships[op.target] = changes
                    raise
            status = b"disabled" if op.kind is OpKind.DISABLE else b"active"
            mods = [(ldap.MOD_REPLACE, "idhubAccountStatus", [status])]
            return conn.modify_ext(dn, mods, controls), dn, None
        except ValueError:  # a malformed DN: the synchronous path reports it
            return None

    def _sent_ok(self, index: int, dn: str, changes: _Memberships | None) -> None:
        op = self.ops[index]
        if op.kind in (OpKind.MOVE, OpKind.RENAME):
            assert op.name is not None
            self.located[op.target] = op.name
            self.results[index] = Result(op, name=op.name)
            return
        self.results[index] = Result(op, name=dn)
        if changes:
            self._member_results(changes.values(), None)

    # --------------------------------------------------------------- creates

    def _creates(self, indexes: list[int]) -> None:
        """A run of creates (and ensure_container), pipelined: up to add_window adds in
        flight on the one connection. An add whose parent is still in flight waits for
        it first (slapd may run the operations of one connection in parallel). A new
        entry carries its memberships from the start (no modify after the add)."""
        prepared: list[_Add] = []
        for index in indexes:
            op = self.ops[index]
            assert op.name is not None
            try:
                key = _dn_key(op.name)
            except ValueError as exc:
                self.results[index] = Result(op, InvalidData(f"{self._what(op)}: {exc}"))
                continue
            entry = _encode(op.attributes.items())
            changes = self.memberships.pop(op.target, None) if op.kind is OpKind.CREATE else None
            if changes:
                self.folded[index] = changes
                adds = [m.group_dn.encode("utf-8") for m in changes.values() if m.add]
                if adds:
                    entry.append((MEMBER_ATTRIBUTE, adds))
            prepared.append((index, op.name, entry, key))
        if self.c.add_window > 1 and len(prepared) > 1:
            prepared = self._pipelined(prepared)  # what is left: none, or after a break
        for index, dn, entry, _key in prepared:
            self._guard(index, self._adder(index, dn, entry))
        for index in indexes:
            self._settle_folded(index)

    def _settle_folded(self, index: int) -> None:
        """The member changes that rode on create `index` share its outcome; if the
        create found its entry already there (a retried batch), they are written to it."""
        changes = self.folded.pop(index, None)
        if changes is None:
            return
        op = self.ops[index]
        result = self.results[index]
        if index in self.existed:
            self._write_memberships(op.target, changes)
            return
        error = None if result is None else result.error
        if result is None or error is not None:
            error = Conflict(f"{self._what(op)}: not applied, the entry was not created")
        self._member_results(changes.values(), None if result and result.ok else error)

    def _pipelined(self, prepared: list[_Add]) -> list[_Add]:
        """Send the adds asynchronously; returns those whose outcome is unknown because
        the connection broke (to be redone synchronously: an add that did land is found
        again by its key)."""
        window = self.c.add_window
        pending = deque(prepared)
        in_flight: deque[tuple[_Add, int]] = deque()
        in_flight_dns: set[_DnKey] = set()
        conn = self.c._connection()
        try:
            while pending or in_flight:
                if not self._on(conn):  # a follow-up search had to reconnect
                    raise _Broken
                if pending and len(in_flight) < window:
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
            if not isinstance(exc, (_Broken, *_BATCH_FATAL)):
                raise
            if self._on(conn):
                self.c.close()
            return [add for add, _msgid in in_flight] + list(pending)
        return []

    def _on(self, conn: Conn) -> bool:
        """Is `conn` still the connector's connection?"""
        return self.c._conn is conn

    def _finish(
        self, conn: Conn, in_flight: deque[tuple[_Add, int]], in_flight_dns: set[_DnKey]
    ) -> None:
        """Take the oldest answer in flight."""
        (index, dn, _entry, key), msgid = in_flight[0]
        error: ldap.LDAPError | None = None
        try:
            conn.result3(msgid, timeout=self.c.config.timeout_s)
        except _BATCH_FATAL:
            raise
        except ldap.LDAPError as exc:
            error = exc
        in_flight.popleft()
        in_flight_dns.discard(key)
        op = self.ops[index]
        if error is None:
            self.located[op.target] = dn
            self.results[index] = Result(op, name=dn)
        else:
            failed = error
            self._guard(index, lambda o: self._add_failed(index, o, dn, failed))

    def _adder(
        self, index: int, dn: str, entry: list[tuple[str, list[bytes]]]
    ) -> Callable[[Operation], Result]:
        return lambda op: self._add_sync(index, op, dn, entry)

    def _add_sync(
        self, index: int, op: Operation, dn: str, entry: list[tuple[str, list[bytes]]]
    ) -> Result:
        try:
            self._raw(lambda: self._what(op, dn), lambda c: c.add_s(dn, entry))
        except ldap.LDAPError as exc:
            return self._add_failed(index, op, dn, exc)
        self.located[op.target] = dn
        return Result(op, name=dn)

    def _add_failed(self, index: int, op: Operation, dn: str, exc: ldap.LDAPError) -> Result:
        if isinstance(exc, ldap.ALREADY_EXISTS):
            # A container that exists is what ensure_container wants; an entry that
            # carries this very key is a create already done (a retried batch).
            if op.kind is OpKind.ENSURE_CONTAINER or self._holds_key(dn, op.target):
                self.located[op.target] = dn
                self.existed.add(index)
                return Result(op, name=dn)
            return Result(op, Conflict(f"{self._what(op, dn)}: the name is taken by another entry"))
        if isinstance(exc, ldap.NO_SUCH_OBJECT):
            _, parent = _split(dn)
            return Result(op, Conflict(f"{self._what(op, dn)}: the parent {parent} does not exist"))
        return Result(op, _map_error(exc, self._what(op, dn)))

    # --------------------------------------------------------------- group membership

    def _write_memberships(self, target: AccountKey, changes: _Memberships) -> None:
        """One member's changes in one modify of its own entry. A retried batch may find
        some already done: then the attribute is replaced by the result, worked out
        from what the entry holds now."""
        indexes = [i for m in changes.values() for i in m.ops]
        op = self.ops[max(indexes)]  # the last word's operation: the DN after the plan
        if target in self.located and self.located[target] is None:
            self._member_results(changes.values(), None)  # deleted in this batch: done
            return
        dn: str | None = None
        try:
            try:
                dn = self._at_entry(op, self._modifier(_member_mods(changes.values())))
            except (ldap.TYPE_OR_VALUE_EXISTS, ldap.NO_SUCH_ATTRIBUTE):
                dn = self._replace_memberships(op, changes)
        except _Vanished:
            if all(not m.add for m in changes.values()):
                self._member_results(changes.values(), None)  # no entry, no membership
            else:
                error = Conflict(f"{self._what(op)}: the member does not exist")
                self._member_results(changes.values(), error)
            return
        except TargetUnavailable:
            raise
        except ConnectorError as exc:
            self._member_results(changes.values(), exc)
            return
        except ValueError as exc:
            self._member_results(changes.values(), InvalidData(f"{self._what(op)}: {exc}"))
            return
        except ldap.LDAPError as exc:
            self._member_results(changes.values(), _map_error(exc, self._what(op, dn)))
            return
        self._member_results(changes.values(), None)

    def _replace_memberships(self, op: Operation, changes: _Memberships) -> str:
        dn = self._current(op) or self._find(op.target)
        if dn is None:
            raise _Vanished
        entry = self._read_entry(dn, [MEMBER_ATTRIBUTE])  # the key is asserted below
        if entry is None:
            raise _Vanished
        held = {normalize_dn(v): v for v in entry.get(MEMBER_ATTRIBUTE.casefold(), ("", ()))[1]}
        for norm, change in changes.items():
            if change.add:
                held.setdefault(norm, change.group_dn)
            else:
                held.pop(norm, None)
        values = [v.encode("utf-8") for v in held.values()] or None
        mods: _Mods = [(ldap.MOD_REPLACE, MEMBER_ATTRIBUTE, values)]
        return self._at_entry(op, self._modifier(mods))

    def _member_results(self, changes: Iterable[_Membership], error: ConnectorError | None) -> None:
        for change in changes:
            for index in change.ops:
                self.results[index] = Result(self.ops[index], error, name=change.group_dn)

    def _ensure_groups(self, groups: dict[str, str]) -> None:
        """Every group this batch added someone to exists as a hub groupOfURLs; the
        additions to a group that cannot be made fail with its reason."""
        for norm, group in groups.items():
            if norm in self.c._groups:
                continue
            try:
                self._ensure_group(group)
            except TargetUnavailable:
                raise
            except ConnectorError as exc:
                self._fail_additions(norm, exc)
                continue
            except (ldap.LDAPError, ValueError) as exc:
                what = f"{self.c.name}: create group {group}"
                error = (
                    _map_error(exc, what)
                    if isinstance(exc, ldap.LDAPError)
                    else (InvalidData(f"{what}: {exc}"))
                )
                self._fail_additions(norm, error)
                continue
            self.c._groups.add(norm)

    def _fail_additions(self, norm: str, error: ConnectorError) -> None:
        for index, op in enumerate(self.ops):
            if op.kind is not OpKind.ADD_MEMBER or op.group is None:
                continue
            with contextlib.suppress(ValueError):
                if normalize_dn(op.group) == norm:
                    self.results[index] = Result(op, error, name=op.group)

    def _ensure_group(self, group: str) -> None:
        """Create the hub group (groupOfURLs over idhubMemberOf) unless it is there. A
        hub group of the earlier static kind (groupOfNames) is replaced: its members
        are named by their own entries now."""
        what = f"{self.c.name}: create group {group}"
        entry = _group_entry(group, self.c.config.base_dn)
        try:
            self._raw(what, lambda c: c.add_s(group, entry))
            return
        except ldap.ALREADY_EXISTS:
            pass
        except ldap.NO_SUCH_OBJECT as exc:
            _, parent = _split(group)
            raise Conflict(f"{what}: the parent {parent} does not exist") from exc
        found = self._read_entry(group, ["objectClass", "idhubManaged"])
        if found is None:  # deleted meanwhile
            self._raw(what, lambda c: c.add_s(group, entry))
            return
        classes = {v.casefold() for v in found.get("objectclass", ("", ()))[1]}
        managed = {v.casefold() for v in found.get("idhubmanaged", ("", ()))[1]} == {"true"}
        if "groupofurls" in classes and "idhubgroup" in classes:
            return
        if not (managed and "idhubgroup" in classes):
            raise Conflict(f"{what}: the name is taken by an entry the hub does not manage")
        self._raw(what, _deleter(group))  # an earlier static hub group
        self._raw(what, lambda c: c.add_s(group, entry))


def _group_entry(group: str, base_dn: str) -> list[tuple[str, list[bytes]]]:
    """A hub group: its members are the entries under the base naming it in
    idhubMemberOf (slapd's dynlist lists them as `member`)."""
    rdn, _parent = _split(group)
    entry: dict[str, list[bytes]] = {
        "objectClass": [b"top", b"groupOfURLs", b"idhubGroup"],
        "idhubManaged": [b"TRUE"],
    }
    for attr, value, _flags in ldap.dn.str2dn(rdn)[0]:
        entry.setdefault(attr, []).append((value or "").encode("utf-8"))
    flt = f"({MEMBER_ATTRIBUTE}={ldap.filter.escape_filter_chars(group)})"
    url = ldapurl.LDAPUrl(dn=base_dn, scope=ldap.SCOPE_SUBTREE, filterstr=flt)
    entry["memberURL"] = [url.unparse().encode("utf-8")]
    return list(entry.items())


if TYPE_CHECKING:

    def _conforms(connector: LdapConnector) -> Connector:  # mypy proves the Protocol holds
        return connector
