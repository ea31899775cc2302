"""The one LDAP connection of a connector: open, bind, reconnect, time out, and turn
python-ldap's exceptions into connectors.base errors.

Error mapping (see `map_error`):
  server down / timeout / busy              → TargetUnavailable (retry later)
  invalid credentials / no rights / no base → TargetMisconfigured (a TargetUnavailable:
                                              jobs wait for an admin to fix the settings)
  entry exists / non-leaf / duplicate key   → Conflict
  schema and syntax violations              → InvalidData
Messages never contain the bind password.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import ldap
import ldap.ldapobject

from connectors.base import (
    Conflict,
    ConnectorError,
    InvalidData,
    TargetMisconfigured,
    TargetUnavailable,
)

T = TypeVar("T")

Conn: TypeAlias = ldap.ldapobject.LDAPObject
What: TypeAlias = str | Callable[[], str]  # a description, built only if needed

UNAVAILABLE: tuple[type[ldap.LDAPError], ...] = (
    ldap.SERVER_DOWN,
    ldap.TIMEOUT,
    ldap.CONNECT_ERROR,
    ldap.BUSY,
    ldap.UNAVAILABLE,
    ldap.TIMELIMIT_EXCEEDED,
    ldap.ADMINLIMIT_EXCEEDED,
)
# The server (not one operation) is gone or refuses work: apply() stops the batch.
BATCH_FATAL: tuple[type[ldap.LDAPError], ...] = (
    ldap.SERVER_DOWN,
    ldap.TIMEOUT,
    ldap.CONNECT_ERROR,
    ldap.BUSY,
    ldap.UNAVAILABLE,
)
MISCONFIGURED: tuple[type[ldap.LDAPError], ...] = (
    ldap.INVALID_CREDENTIALS,
    ldap.INAPPROPRIATE_AUTH,
    ldap.INSUFFICIENT_ACCESS,
    ldap.STRONG_AUTH_REQUIRED,
    ldap.CONFIDENTIALITY_REQUIRED,
)
CONFLICT: tuple[type[ldap.LDAPError], ...] = (
    ldap.ALREADY_EXISTS,
    ldap.NOT_ALLOWED_ON_NONLEAF,
    ldap.TYPE_OR_VALUE_EXISTS,
    ldap.ASSERTION_FAILED,
)
INVALID: tuple[type[ldap.LDAPError], ...] = (
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
    """Where the directory is and how the hub binds to it.

    TLS: an `ldaps://` URL, or `start_tls` on an `ldap://` one; the server's certificate
    is always checked (against `tls_ca_file`, else the system's CAs) and its name must
    match the URL's host. `tls_cert_file`/`tls_key_file`: a client certificate, for a
    server that asks for one. `tls_required`: refuse to bind over a plain connection
    (ldapi://, a local socket, counts as protected)."""

    url: str
    base_dn: str
    bind_dn: str
    password: str = field(repr=False)
    timeout_s: float = 3.0
    start_tls: bool = False
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_required: bool = False

    @property
    def uses_tls(self) -> bool:
        return self.url.lower().startswith("ldaps://") or self.start_tls

    @property
    def protected(self) -> bool:
        return self.uses_tls or self.url.lower().startswith("ldapi://")


def _set_tls(conn: Conn, cfg: LdapConfig) -> None:
    """This connection's TLS context: the server's certificate checked (DEMAND), the CA
    and client certificate files when given; NEWCTX last makes libldap build it."""
    conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
    if cfg.tls_ca_file:
        conn.set_option(ldap.OPT_X_TLS_CACERTFILE, cfg.tls_ca_file)
    if cfg.tls_cert_file:
        conn.set_option(ldap.OPT_X_TLS_CERTFILE, cfg.tls_cert_file)
    if cfg.tls_key_file:
        conn.set_option(ldap.OPT_X_TLS_KEYFILE, cfg.tls_key_file)
    conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)


def describe(exc: ldap.LDAPError) -> str:
    """'desc (info)' from a python-ldap exception (which never carries the password)."""
    details: Any = exc.args[0] if exc.args else {}
    if isinstance(exc, ldap.TIMEOUT) and not details:  # raised client-side, with no args
        return "Timed out waiting for the server"
    if not isinstance(details, dict):
        return str(details) or type(exc).__name__
    desc = str(details.get("desc") or type(exc).__name__)
    info = details.get("info")
    return f"{desc} ({info})" if info else desc


def map_error(exc: ldap.LDAPError, what: str) -> ConnectorError:
    """Turn a python-ldap exception into the typed error the worker acts on."""
    message = f"{what}: {describe(exc)}"
    if isinstance(exc, MISCONFIGURED):
        return TargetMisconfigured(message)
    if isinstance(exc, UNAVAILABLE):
        return TargetUnavailable(message)
    if isinstance(exc, CONFLICT):
        return Conflict(message)
    if isinstance(exc, INVALID):
        return InvalidData(message)
    return ConnectorError(message)


def text(what: What) -> str:
    return what if isinstance(what, str) else what()


class Connection:
    """One persistent connection, opened on first use and reopened once when the server
    dropped it (slapd restarts, idle timeouts). `lock` serialises its use."""

    def __init__(self, config: LdapConfig, name: str) -> None:
        self.config = config
        self.name = name
        self.lock = threading.RLock()
        self.current: Conn | None = None

    def _open(self) -> Conn:
        cfg = self.config
        try:
            conn = ldap.initialize(cfg.url)
        except ldap.LDAPError as exc:
            raise map_error(exc, f"{self.name}: bad URL {cfg.url!r}") from exc
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, ldap.VERSION3)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, cfg.timeout_s)
        conn.set_option(ldap.OPT_TIMEOUT, cfg.timeout_s)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        if cfg.tls_required and not cfg.protected:
            raise TargetMisconfigured(
                f"{self.name}: {cfg.url} is not encrypted and tls_required is set: use "
                "ldaps:// or start_tls"
            )
        try:
            if cfg.uses_tls:
                _set_tls(conn, cfg)
            if cfg.start_tls:
                conn.start_tls_s()
            conn.simple_bind_s(cfg.bind_dn, cfg.password)
        except ldap.LDAPError as exc:
            with contextlib.suppress(ldap.LDAPError):
                conn.unbind_s()
            raise map_error(exc, f"{self.name}: bind to {cfg.url} as {cfg.bind_dn}") from exc
        return conn

    def close(self) -> None:
        """Unbind; the next call opens a new connection."""
        with self.lock:
            conn, self.current = self.current, None
            if conn is not None:
                with contextlib.suppress(ldap.LDAPError):
                    conn.unbind_s()

    def get(self) -> Conn:
        """The open connection, opened (and bound) now if there is none."""
        if self.current is None:
            self.current = self._open()
        return self.current

    def is_current(self, conn: Conn) -> bool:
        """Is `conn` still the connection in use (not closed and replaced meanwhile)?"""
        return self.current is conn

    def call(self, what: What, fn: Callable[[Conn], T], *, reconnect: bool = True) -> T:
        """Run fn on the connection; reopen once if the server had dropped it. Every
        python-ldap error comes out mapped."""
        try:
            return self.raw(what, fn, reconnect=reconnect)
        except ldap.LDAPError as exc:
            raise map_error(exc, f"{self.name}: {text(what)}") from exc

    def raw(self, what: What, fn: Callable[[Conn], T], *, reconnect: bool = True) -> T:
        """Run fn on the connection; reopen once if the server had dropped it.

        Only for operations that are safe to send twice: reads, and writes that are
        idempotent here (see LdapConnector.apply). Connection-level failures (server
        down, timeout, busy) come out as TargetUnavailable; any other python-ldap error
        is re-raised as it is, for the caller to judge.
        """
        with self.lock:
            for attempt in (1, 2):
                conn = self.get()
                try:
                    return fn(conn)
                except ldap.SERVER_DOWN as exc:
                    self.close()
                    if attempt == 2 or not reconnect:
                        raise map_error(exc, f"{self.name}: {text(what)}") from exc
                except ldap.TIMEOUT as exc:
                    self.close()  # a late answer must not be read as the next one's
                    raise map_error(exc, f"{self.name}: {text(what)}") from exc
                except BATCH_FATAL as exc:
                    self.close()
                    raise map_error(exc, f"{self.name}: {text(what)}") from exc
        raise AssertionError("unreachable")
