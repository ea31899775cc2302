"""A throwaway OpenLDAP slapd on loopback, owned by this process (tests and `make run`).

The instance lives in one folder:

    <directory>/slapd.conf   rendered from idhub/defaults/ldap/slapd.conf.tmpl on every start
    <directory>/data/        the back-mdb database; kept between runs
    <directory>/slapd.log    slapd's stderr (appended)
    <directory>/slapd.pid    written by slapd, removed on a clean stop
    <directory>/indexes.txt  the `index` lines the data was last indexed with

Least privilege: besides the rootdn (seeding, tests), two service accounts live right
below the suffix, under a password policy without lockout (a guesser must not lock the
hub out): the hub's own (`hub_dn`, write access to the tree, never to the policy or the
service accounts) and a read-only one for Postfix and Dovecot's maps (`reader_dn`).
idhub/defaults/ldap/ has the same ACLs as LDIF for an existing OpenLDAP (docs/deploy.md).

We run slapd in the foreground under subprocess.Popen, so the process is ours to stop
and a crash shows up as an exit code, not as a silent daemon. `-d none` logs start-up
errors and shut-down lines to stderr (there is no syslog here), nothing per operation.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import signal
import string
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import argon2
import ldap
import ldap.dn
import ldap.ldapobject
import ldap.modlist

from idhub.config import DEFAULTS_DIR
from idhub.ops.devstack import processes
from idhub.ops.devstack.ports import free_port

CONFIG_DIR = DEFAULTS_DIR / "ldap"
TEMPLATE = CONFIG_DIR / "slapd.conf.tmpl"
IDHUB_SCHEMA = CONFIG_DIR / "idhub.schema"
SYSTEM_SCHEMA_DIR = Path("/etc/ldap/schema")
SLAPD = "/usr/sbin/slapd"
SLAPTEST = "/usr/sbin/slaptest"
SLAPINDEX = "/usr/sbin/slapindex"

# OWASP's minimum argon2id parameters: a real hash, yet an admin bind costs ~50 ms,
# not the ~180 ms of argon2-cffi's defaults (tests bind often).
_ROOTPW_HASHER = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

# Structural entry for the suffix, chosen by the attribute of its first RDN.
_BASE_OBJECT_CLASSES: dict[str, list[bytes]] = {
    "dc": [b"top", b"dcObject", b"organization"],
    "o": [b"top", b"organization"],
    "ou": [b"top", b"organizationalUnit"],
    "c": [b"top", b"country"],
}


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate, its key, the CA clients check it with, and the mode:
    "ldaps" (TLS from the first byte) or "starttls" (plain port, TLS required)."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    mode: str = "ldaps"
    verify_client: bool = False  # demand a client certificate signed by ca_file


class SlapdError(RuntimeError):
    """The throwaway slapd could not be configured, started or stopped; says why."""


class Slapd(processes.ServerProcess):
    """One throwaway slapd serving `base_dn` from `directory` on `host:port`.

    `port=None` picks a free port once; the instance keeps it across restarts so
    clients holding `url` keep working. Data persists in the folder between runs.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        base_dn: str,
        admin_dn: str,
        admin_password: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        max_failures: int = 5,
        lockout_s: int = 900,
        hub_dn: str | None = None,
        hub_password: str | None = None,
        reader_dn: str | None = None,
        reader_password: str | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        if not admin_password:
            raise SlapdError("admin_password must not be empty")
        try:
            ldap.dn.str2dn(base_dn)
            ldap.dn.str2dn(admin_dn)
        except ldap.DECODING_ERROR as exc:
            raise SlapdError(f"invalid DN: {exc}") from exc
        self.directory = Path(directory).resolve()
        self.base_dn = base_dn
        self.admin_dn = admin_dn
        self._admin_password = admin_password
        # The service accounts (made at start when given a password; rootdn stands alone).
        self.hub_dn = hub_dn or f"cn=idhub-hub,{base_dn}"
        self.reader_dn = reader_dn or f"cn=idhub-mail,{base_dn}"
        self._service_passwords = {self.hub_dn: hub_password, self.reader_dn: reader_password}
        self.host = host
        self._port = port
        # With TLS files: ldaps:// only (mode "ldaps"), or ldap:// where every operation
        # but StartTLS needs TLS first (mode "starttls", slapd's `security tls=1`).
        self.tls = tls
        # The password policy, in step with the hub's lockout ([sso] lockout_threshold, lockout_s).
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:  # never show the password
        return f"Slapd({str(self.directory)!r}, base_dn={self.base_dn!r}, port={self._port})"

    # ------------------------------------------------------------------ paths

    @property
    def conf_path(self) -> Path:
        return self.directory / "slapd.conf"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "slapd.log"

    @property
    def pid_path(self) -> Path:
        return self.directory / "slapd.pid"

    @property
    def index_stamp_path(self) -> Path:
        return self.directory / "indexes.txt"

    @property
    def policy_dn(self) -> str:
        """The default password policy's entry (ppolicy_default), right below the suffix."""
        return f"cn=passwordPolicy,{self.base_dn}"

    @property
    def service_policy_dn(self) -> str:
        """The service accounts' password policy: no lockout (right below the suffix)."""
        return f"cn=servicePolicy,{self.base_dn}"

    @property
    def port(self) -> int:
        """The TCP port; picked on first access when none was given."""
        if self._port is None:
            self._port = free_port(self.host)
        return self._port

    @property
    def url(self) -> str:
        """`ldap://host:port` for clients (python-ldap, Postfix, Dovecot)."""
        scheme = "ldaps" if self.tls is not None and self.tls.mode == "ldaps" else "ldap"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    # ------------------------------------------------------------------ lifecycle

    def is_running(self) -> bool:
        """True while the slapd process we started is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 15.0) -> Self:
        """Configure, validate, start and wait until the admin can bind; idempotent."""
        if self.is_running():
            return self
        deadline = time.monotonic() + timeout
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.mkdir(exist_ok=True, mode=0o700)
        self._clear_stale_pidfile()
        self._check_port_free()
        self._write_config()
        self._slaptest()
        self._reindex_if_needed()

        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting on {self.url}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                [SLAPD, "-f", str(self.conf_path), "-h", f"{self.url}/", "-d", "none"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
            )
        processes.started(self)
        try:
            self._wait_until_bindable(deadline)
            self._ensure_base_entry()
            self._ensure_password_policy()
            self._ensure_service_accounts()
            if not self.is_running():  # the bind may have reached someone else's server
                raise SlapdError(f"slapd exited during start; log tail:\n{self.log_tail()}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (slapd flushes and removes its pidfile), SIGKILL after `timeout` s."""
        proc, self._proc = self._proc, None
        processes.stopped(self)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    # ------------------------------------------------------------------ helpers

    def connect(self, timeout: float = 3.0) -> ldap.ldapobject.LDAPObject:
        """A new python-ldap connection bound as the admin (for tests and seeding)."""
        conn = ldap.initialize(self.url)
        conn.set_option(ldap.OPT_PROTOCOL_VERSION, ldap.VERSION3)
        conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
        conn.set_option(ldap.OPT_TIMEOUT, timeout)
        conn.set_option(ldap.OPT_REFERRALS, 0)
        try:
            if self.tls is not None:
                conn.set_option(ldap.OPT_X_TLS_CACERTFILE, str(self.tls.ca_file))
                conn.set_option(ldap.OPT_X_TLS_REQUIRE_CERT, ldap.OPT_X_TLS_DEMAND)
                if self.tls.verify_client:  # the server's own pair serves as the client's
                    conn.set_option(ldap.OPT_X_TLS_CERTFILE, str(self.tls.cert_file))
                    conn.set_option(ldap.OPT_X_TLS_KEYFILE, str(self.tls.key_file))
                conn.set_option(ldap.OPT_X_TLS_NEWCTX, 0)
                if self.tls.mode == "starttls":
                    conn.start_tls_s()
            conn.simple_bind_s(self.admin_dn, self._admin_password)
        except ldap.LDAPError:
            conn.unbind_s()
            raise
        return conn

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of slapd.log, for error messages."""
        return processes.log_tail(self.log_path, lines)

    def _render_config(self) -> str:
        template = string.Template(TEMPLATE.read_text())
        return template.substitute(
            schema_dir=SYSTEM_SCHEMA_DIR,
            idhub_schema=IDHUB_SCHEMA,
            instance_dir=self.directory,
            data_dir=self.data_dir,
            suffix=self.base_dn,
            rootdn=self.admin_dn,
            rootpw_hash="{ARGON2}" + _ROOTPW_HASHER.hash(self._admin_password),
            policy_dn=self.policy_dn,
            service_policy_dn=self.service_policy_dn,
            hub_dn=self.hub_dn,
            reader_dn=self.reader_dn,
            max_failures=self.max_failures,
            lockout_s=self.lockout_s,
            tls=self._tls_lines(),
        )

    def _tls_lines(self) -> str:
        if self.tls is None:
            return "# No TLS (the dev stack speaks plain LDAP on loopback)."
        lines = [
            f'TLSCACertificateFile "{self.tls.ca_file}"',
            f'TLSCertificateFile "{self.tls.cert_file}"',
            f'TLSCertificateKeyFile "{self.tls.key_file}"',
        ]
        if self.tls.mode == "starttls":
            lines.append("security tls=1")
        if self.tls.verify_client:
            lines.append("TLSVerifyClient demand")
        return "\n".join(lines)

    def _write_config(self) -> None:
        # 0600 from the first byte: the file holds the admin password hash.
        processes.write_file(self.conf_path, self._render_config(), 0o600)

    def _slaptest(self) -> None:
        """Validate the rendered config (and our schema) before slapd sees it."""
        output = processes.failure_of([SLAPTEST, "-f", str(self.conf_path), "-u"], timeout=30)
        if output is not None:
            raise SlapdError(f"slaptest rejected {self.conf_path}:\n{output}")

    def _reindex_if_needed(self) -> None:
        """Rebuild the indexes of existing data when the config's `index` lines changed.

        slapd.conf is rendered afresh on every start, but back-mdb trusts it: an index
        added since the data was written holds none of the existing entries, so a search
        on that attribute silently misses them. slapindex (slapd is not running: start()
        has checked the pidfile) rebuilds them; a new, empty data folder needs nothing.
        """
        wanted = "\n".join(
            sorted(
                " ".join(line.split())
                for line in self.conf_path.read_text().splitlines()
                if line.split()[:1] == ["index"]
            )
        )
        try:
            recorded: str | None = self.index_stamp_path.read_text()
        except FileNotFoundError:
            recorded = None  # a data folder from before this file existed, or a new one
        if recorded == wanted:
            return
        if (self.data_dir / "data.mdb").exists():
            output = processes.failure_of([SLAPINDEX, "-f", str(self.conf_path), "-q"], 600)
            if output is not None:
                raise SlapdError(f"slapindex failed on {self.data_dir}:\n{output}")
        self.index_stamp_path.write_text(wanted)

    def _clear_stale_pidfile(self) -> None:
        """Remove a pidfile left by a killed run; refuse if that slapd is still alive.

        Two slapds on one mdb folder would both write to it, so a live one (a slapd
        process whose command line names our slapd.conf) is an error, not a restart.
        """
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            self.pid_path.unlink(missing_ok=True)
            return
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            cmdline = []
        if (
            cmdline
            and Path(os.fsdecode(cmdline[0])).name == "slapd"
            and (os.fsencode(self.conf_path) in cmdline)
        ):
            raise SlapdError(
                f"slapd pid {pid} is still serving {self.directory}; stop it first (kill {pid})"
            )
        self.pid_path.unlink(missing_ok=True)

    def _check_port_free(self) -> None:
        """Fail fast if something listens on our port: otherwise our readiness probe
        could bind to that other server while our slapd quietly exits."""
        problem = processes.port_taken(self.host, self.port)
        if problem is not None:
            raise SlapdError(problem)

    def _wait_until_bindable(self, deadline: float) -> None:
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise SlapdError(
                    f"slapd exited with status {self._proc.returncode} during start; "
                    f"log tail:\n{self.log_tail()}"
                )
            try:
                self.connect(timeout=0.5).unbind_s()
                return
            except (ldap.SERVER_DOWN, ldap.TIMEOUT, ldap.CONNECT_ERROR):
                pass
            except ldap.INVALID_CREDENTIALS as exc:
                raise SlapdError(f"slapd refused the admin bind for {self.admin_dn}") from exc
            if time.monotonic() > deadline:
                raise SlapdError(
                    f"slapd did not answer on {self.url} in time; log tail:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def _ensure_base_entry(self) -> None:
        """Create the suffix entry (dcObject/organization, organization, OU…) if missing."""
        conn = self.connect()
        try:
            try:
                conn.search_s(self.base_dn, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
                return
            except ldap.NO_SUCH_OBJECT:
                pass
            rdn = ldap.dn.str2dn(self.base_dn)[0]
            first_attr = rdn[0][0].lower()
            if first_attr not in _BASE_OBJECT_CLASSES:
                raise SlapdError(
                    f"don't know how to create a base entry named {first_attr}=…; "
                    f"create {self.base_dn} yourself"
                )
            entry: dict[str, list[bytes]] = {"objectClass": _BASE_OBJECT_CLASSES[first_attr]}
            for attr, value, _flags in rdn:
                entry.setdefault(attr, []).append(value.encode())
            if first_attr == "dc":  # organization needs an o
                entry["o"] = [rdn[0][1].encode()]
            conn.add_s(self.base_dn, ldap.modlist.addModlist(entry))
        finally:
            conn.unbind_s()

    def _password_policy(self) -> dict[str, list[bytes]]:
        """The default policy: lock after `max_failures` wrong binds within `lockout_s`
        seconds, for `lockout_s` seconds; users never change their password over LDAP
        (the ACL says so too); hashes written by the hub are taken as they are."""
        return {
            "pwdAttribute": [b"userPassword"],
            "pwdLockout": [b"TRUE"],
            "pwdMaxFailure": [str(self.max_failures).encode()],
            "pwdLockoutDuration": [str(self.lockout_s).encode()],
            "pwdFailureCountInterval": [str(self.lockout_s).encode()],
            "pwdAllowUserChange": [b"FALSE"],
            "pwdCheckQuality": [b"0"],
            "pwdMustChange": [b"FALSE"],
        }

    def _ensure_password_policy(self) -> None:
        """Write the default policy entry, or bring an existing one in step with ours."""
        policy = self._password_policy()
        conn = self.connect()
        try:
            try:
                conn.search_s(self.policy_dn, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
            except ldap.NO_SUCH_OBJECT:
                entry = {
                    "objectClass": [b"top", b"applicationProcess", b"pwdPolicy"],
                    "cn": [b"passwordPolicy"],
                } | policy
                conn.add_s(self.policy_dn, ldap.modlist.addModlist(entry))
                return
            conn.modify_s(
                self.policy_dn,
                [(ldap.MOD_REPLACE, name, values) for name, values in policy.items()],
            )
        finally:
            conn.unbind_s()

    def _ensure_service_accounts(self) -> None:
        """The hub's and the mail maps' accounts (applicationProcess + simpleSecurityObject)
        with the passwords given, under the no-lockout policy; made or brought in step."""
        accounts = {
            dn: pw for dn, pw in self._service_passwords.items() if pw and dn != self.admin_dn
        }
        if not accounts:
            return
        conn = self.connect()
        try:
            policy = {
                "objectClass": [b"top", b"applicationProcess", b"pwdPolicy"],
                "cn": [b"servicePolicy"],
                "pwdAttribute": [b"userPassword"],
                "pwdLockout": [b"FALSE"],
                "pwdMaxFailure": [b"0"],
                "pwdAllowUserChange": [b"FALSE"],
                "pwdCheckQuality": [b"0"],
                "pwdMustChange": [b"FALSE"],
            }
            with contextlib.suppress(ldap.ALREADY_EXISTS):
                conn.add_s(self.service_policy_dn, ldap.modlist.addModlist(policy))
            for dn, password in accounts.items():
                # A salted SHA-512: a long random secret needs no slow hash, and the maps
                # (Postfix opens several) bind often.
                hashed = _ssha512(password)
                try:
                    conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
                except ldap.NO_SUCH_OBJECT:
                    rdn = ldap.dn.str2dn(dn)[0][0]
                    entry = {
                        "objectClass": [b"top", b"applicationProcess", b"simpleSecurityObject"],
                        "cn": [rdn[1].encode()],
                        "userPassword": [hashed],
                        "pwdPolicySubentry": [self.service_policy_dn.encode()],
                    }
                    conn.add_s(dn, ldap.modlist.addModlist(entry))
                    continue
                conn.modify_s(
                    dn,
                    [
                        (ldap.MOD_REPLACE, "userPassword", [hashed]),
                        (ldap.MOD_REPLACE, "pwdPolicySubentry", [self.service_policy_dn.encode()]),
                    ],
                )
        finally:
            conn.unbind_s()


def _ssha512(password: str) -> bytes:
    salt = os.urandom(16)
    digest = hashlib.sha512(password.encode() + salt).digest()
    return b"{SSHA512}" + base64.b64encode(digest + salt)
