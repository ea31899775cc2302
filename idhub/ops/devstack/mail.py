"""A throwaway mail stack on loopback, owned by this process (tests and `make run`).

Postfix (SMTP in) and Dovecot (IMAP, LMTP) read the accounts from IDHub's LDAP
directory; nothing is local to the machine and nothing is sent out. One folder holds it
all:

    <directory>/postfix/        main.cf, master.cf, ldap-*.cf (rendered on every start)
    <directory>/postfix-queue/  Postfix's queue_directory (the first start fills it)
    <directory>/postfix-data/   Postfix's data_directory
    <directory>/postfix.log     Postfix's maillog_file (no syslog here)
    <directory>/dovecot/        dovecot.conf, the LDAP lookups, base_dir (sockets)
    <directory>/dovecot.log     Dovecot's log_path
    <directory>/mail/           the mailboxes: <mail root>/<idhubMailbox>/Maildir
    <directory>/tls/            the stack's own CA (ca.pem) and server pair (certs.py)

    SMTP  127.0.0.1:<smtp_port>  (Postfix smtpd; virtual domains and aliases from LDAP)
    LMTP  127.0.0.1:<lmtp_port>  (Dovecot; Postfix delivers here)
    IMAP  127.0.0.1:<imap_port>  (Dovecot; passwords checked by slapd with auth_bind;
          STARTTLS offered) and IMAPS 127.0.0.1:<imaps_port> (TLS from the first byte)
    SMTP  127.0.0.1:<submission_port>  (Postfix submission: SMTP AUTH only, checked by
          Dovecot's auth service on 127.0.0.1:<auth_port>, the same passdb as IMAP;
          AUTH only after STARTTLS, as on a province's server; port 25's SMTP offers it)
    HTTPS 127.0.0.1:<doveadm_port>  (doveadm's API, Basic auth doveadm:<doveadm_password>)

Dovecot runs in the foreground under subprocess.Popen (ours to stop; a crash shows as
an exit code). Postfix's master always daemonises: `postfix -c DIR start` / `stop`
(killing the process `start` launched would leave the master running).
The lookups are documented for a province's own servers in docs/mail.md.

Dovecot's mail processes run as the system account `mail` (Dovecot refuses root), which
must reach the mailboxes and Dovecot's sockets. When a parent of `directory` is private
(a clone in a Debian 12 home folder, 0700), the stack lives in a folder of its own under
/var/lib/idhub-dev instead (idhub.services.dev_mail_folder), `directory` becomes a
symbolic link to it, and `relocated` says so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import string
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from idhub.config import DEFAULTS_DIR
from idhub.ops.devstack import processes
from idhub.ops.devstack.certs import DevTls, ensure_dev_tls
from idhub.ops.devstack.ports import free_port
from idhub.services import DEV_MAIL_FALLBACK, dev_mail_folder

log = logging.getLogger(__name__)

TEMPLATE_DIR = DEFAULTS_DIR / "mail"
POSTFIX = "/usr/sbin/postfix"
DOVECOT = "/usr/sbin/dovecot"
DOVEADM = "/usr/bin/doveadm"
MAIL_USER = "mail"  # the system account every mailbox belongs to (LDAP gives no uid)


class MailStackError(RuntimeError):
    """The throwaway Postfix or Dovecot could not be configured, started or stopped."""


@dataclass(frozen=True)
class LdapSource:
    """Where Postfix and Dovecot find the accounts (a read-capable bind)."""

    url: str
    base_dn: str
    bind_dn: str
    password: str
    # TLS to the directory: ldaps:// in `url`, or StartTLS; the server's certificate is
    # checked against `ca_file` (readable by the postfix and dovecot accounts).
    start_tls: bool = False
    ca_file: str = ""

    def tls_lines(self, require: str, start_tls: str) -> str:
        """The TLS lines of a Postfix table (`yes`, `start_tls`) or a Dovecot LDAP file
        (`demand`, `tls`): the server's certificate checked; none for plain LDAP."""
        if not (self.start_tls or self.url.startswith("ldaps://")):
            return ""
        lines = [f"tls_require_cert = {require}"] + [f"{start_tls} = yes"] * self.start_tls
        return "\n".join(lines + [f"tls_ca_cert_file = {self.ca_file}"] * bool(self.ca_file))

    def __repr__(self) -> str:  # never show the password
        return f"LdapSource({self.url!r}, base_dn={self.base_dn!r}, bind_dn={self.bind_dn!r})"


# The LDAP lookups: (table, filter, result attribute, extra lines). %s is Postfix's
# escaped lookup key. Only active accounts receive; a disabled account's addresses are
# forwarded (idhubMailForward) or refused with its message (idhubMailBounce).
_PERSON = "(objectClass=idhubPerson)"
# Mail goes to people and to seat mailboxes alike; only people sign in (passdb).
_BOX = "(|(objectClass=idhubPerson)(objectClass=idhubSeat))"
_ACTIVE = "(idhubAccountStatus=active)"
_DISABLED = "(idhubAccountStatus=disabled)"
_ANY_ADDRESS = "(|(mail=%s)(idhubMailAlias=%s))"
POSTFIX_TABLES: tuple[tuple[str, str, str, str], ...] = (
    ("domains", f"(&{_BOX}(|(mail=*@%s)(idhubMailAlias=*@%s)))", "mail",
     "result_format = %d\nsize_limit = 0"),
    ("mailboxes", f"(&{_BOX}{_ACTIVE}(mail=%s)(idhubMailbox=*))", "idhubMailbox", ""),
    ("aliases", f"(&{_BOX}{_ACTIVE}(idhubMailAlias=%s))", "mail", ""),
    ("forwards", f"(&{_BOX}{_DISABLED}{_ANY_ADDRESS})", "idhubMailForward", ""),
    ("bounce", f"(&{_BOX}{_DISABLED}{_ANY_ADDRESS})", "idhubMailBounce",
     "result_format = REJECT %s"),
)  # fmt: skip

# Dovecot: the passdb lets only active accounts in (slapd checks the password and
# refuses disabled ones too); the userdb finds any account of ours, so LMTP and doveadm
# (export, kick) work for it, and maps the mailbox and quota. It names the mail uid
# too: an IMAP process (running as that uid) may then look up another user's home,
# which the shared namespace needs for a delegated mailbox.
# Two passdbs, in this order (docs/mail.md "App passwords"): a person's app passwords
# (their mail-credentials entry below ou=mailauth: slapd accepts any of its hashes), then
# the account password on the person's own entry — except for people flagged
# idhubMailAppPasswordsOnly (a second factor, and the province requires app passwords).
_CREDENTIALS = "(objectClass=idhubMailCredentials)"
DOVECOT_APP_PASSDB = f"""pass_filter = (&{_CREDENTIALS}{_ACTIVE}(uid=%u))
pass_attrs = uid=user"""
DOVECOT_PASSDB = f"""pass_filter = (&{_PERSON}{_ACTIVE}(uid=%u)(!(idhubMailAppPasswordsOnly=TRUE)))
pass_attrs = uid=user"""
DOVECOT_USERDB = f"""user_filter = (&{_BOX}(idhubMailbox=*)(|(uid=%u)(mail=%u)))
user_attrs = =user=%{{ldap:uid}}, =home={{mail_root}}/%{{ldap:idhubMailbox}}, \\
  =uid={{mail_uid}}, =gid={{mail_gid}}, idhubMailQuota=quota_rule=*:bytes=%$
iterate_filter = (&{_BOX}(idhubMailbox=*))
iterate_attrs = uid=user"""


# Switches anvil's auth penalty off (its socket unusable): tests fail logins on purpose.
_NO_ANVIL_PENALTY = """service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}"""


class MailStack(processes.ServerProcess):
    """Postfix + Dovecot serving IDHub's directory from `directory` on loopback ports.

    Ports given as None are picked once and kept across restarts.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        ldap_source: LdapSource,
        *,
        hostname: str = "mail.idhub.test",
        smtp_port: int | None = None,
        imap_port: int | None = None,
        lmtp_port: int | None = None,
        doveadm_port: int | None = None,
        submission_port: int | None = None,
        auth_port: int | None = None,
        imaps_port: int | None = None,
        doveadm_password: str | None = None,
        auth_failure_delay_s: int = 2,
        auth_penalty: bool = True,
    ) -> None:
        self.configured = Path(directory).absolute()
        self.directory = dev_mail_folder(directory)
        self.ldap = ldap_source
        self.hostname = hostname
        self.host = "127.0.0.1"
        self.smtp_port = smtp_port or free_port(self.host)
        self.imap_port = imap_port or free_port(self.host)
        self.lmtp_port = lmtp_port or free_port(self.host)
        self.doveadm_port = doveadm_port or free_port(self.host)
        # Mail clients submit here with SMTP AUTH (an app password, or the account
        # password where allowed); Postfix asks Dovecot's auth service over TCP.
        self.submission_port = submission_port or free_port(self.host)
        self.auth_port = auth_port or free_port(self.host)
        self.imaps_port = imaps_port or free_port(self.host)
        # doveadm's HTTP API (Basic auth); a fresh one per stack unless the hub gives its own.
        self.doveadm_password = doveadm_password or secrets.token_urlsafe(24)
        # Guessing passwords over IMAP is slowed as Dovecot does by default (tests that
        # fail logins on purpose turn both off); slapd's ppolicy then locks the entry.
        self.auth_failure_delay_s = auth_failure_delay_s
        self.auth_penalty = auth_penalty
        self._dovecot: subprocess.Popen[bytes] | None = None
        self._postfix_up = False

    def __repr__(self) -> str:
        return (
            f"MailStack({str(self.directory)!r}, smtp={self.smtp_port}, "
            f"imap={self.imap_port}, lmtp={self.lmtp_port})"
        )

    @property
    def relocated(self) -> str | None:
        """Why the stack is not in the folder it was given (None when it is)."""
        if self.directory.parent != DEV_MAIL_FALLBACK or self.configured == self.directory:
            return None
        return (
            f"{self.configured} is below a folder other accounts cannot search, and "
            f"Dovecot's mail processes run as {MAIL_USER!r}: the mail stack lives in "
            f"{self.directory} ({self.configured} links there)"
        )

    # ------------------------------------------------------------------ paths

    @property
    def postfix_dir(self) -> Path:
        return self.directory / "postfix"

    @property
    def queue_dir(self) -> Path:
        return self.directory / "postfix-queue"

    @property
    def dovecot_dir(self) -> Path:
        return self.directory / "dovecot"

    @property
    def dovecot_conf(self) -> Path:
        """The file `doveadm -c` needs (the mail connector's `doveadm_config`)."""
        return self.dovecot_dir / "dovecot.conf"

    @property
    def doveadm_url(self) -> str:
        """Dovecot's doveadm HTTP API over TLS (the mail connector's `doveadm_url`; its
        certificate is signed by `tls.ca_file`)."""
        return f"https://{self.host}:{self.doveadm_port}/doveadm/v1"

    @property
    def mail_root(self) -> Path:
        return self.directory / "mail"

    @property
    def tls(self) -> DevTls:
        """The stack's CA (what clients trust: `tls.ca_file`) and server pair, made on
        first use."""
        return ensure_dev_tls(self.directory / "tls", self.hostname)

    @property
    def postfix_log(self) -> Path:
        return self.directory / "postfix.log"

    @property
    def dovecot_log(self) -> Path:
        return self.directory / "dovecot.log"

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> Self:
        """Render the configuration, start Dovecot then Postfix, wait until both answer."""
        deadline = time.monotonic() + timeout
        processes.started(self)
        try:
            if not self.dovecot_running():
                self.start_dovecot(deadline - time.monotonic())
            if not self.postfix_running():
                self.start_postfix(deadline - time.monotonic())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.stop_postfix()
        self.stop_dovecot()
        processes.stopped(self)

    # -- Dovecot

    def dovecot_running(self) -> bool:
        return self._dovecot is not None and self._dovecot.poll() is None

    def start_dovecot(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        self._prepare_dovecot()
        _check_port_free(self.host, self.imap_port)
        _check_port_free(self.host, self.lmtp_port)
        _check_port_free(self.host, self.doveadm_port)
        _check_port_free(self.host, self.auth_port)
        _check_port_free(self.host, self.imaps_port)
        with self.dovecot_log.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting dovecot\n".encode())
            log.flush()
            self._dovecot = subprocess.Popen(
                [DOVECOT, "-F", "-c", str(self.dovecot_conf)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
            )
        processes.started(self)
        for port, greeting in ((self.imap_port, b"* OK"), (self.lmtp_port, b"220")):
            # (IMAPS answers once the TLS handshake is done: the IMAP port tells enough.)
            self._wait_greeting(port, greeting, deadline, "dovecot", self._dovecot_alive)

    def stop_dovecot(self, timeout: float = 10.0) -> None:
        proc, self._dovecot = self._dovecot, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)

    def _dovecot_alive(self) -> bool:
        return self.dovecot_running()

    # -- Postfix

    def postfix_running(self) -> bool:
        return self._postfix_up and self._postfix_master_pid() is not None

    def start_postfix(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        self._prepare_postfix()
        if self._postfix_master_pid() is not None:
            raise MailStackError(f"a Postfix master already serves {self.queue_dir}; stop it")
        _check_port_free(self.host, self.smtp_port)
        _check_port_free(self.host, self.submission_port)
        done = self._postfix("start")
        if done.returncode != 0:
            raise MailStackError(
                f"postfix -c {self.postfix_dir} start failed:\n{done.stdout}{done.stderr}\n"
                f"log tail:\n{processes.log_tail(self.postfix_log)}"
            )
        self._postfix_up = True
        processes.started(self)
        self._wait_greeting(
            self.smtp_port, b"220", deadline, "postfix",
            lambda: self._postfix_master_pid() is not None,
        )  # fmt: skip

    def stop_postfix(self, timeout: float = 15.0) -> None:
        if not self._postfix_up and self._postfix_master_pid() is None:
            return
        self._postfix_up = False
        self._postfix("stop")
        deadline = time.monotonic() + timeout
        while self._postfix_master_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = self._postfix_master_pid()
        if pid is not None:  # did not stop in time
            self._postfix("abort")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _postfix(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [POSTFIX, "-c", str(self.postfix_dir), command],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def _postfix_master_pid(self) -> int | None:
        """The pid of the Postfix master serving our queue, if one is alive."""
        try:
            pid = int((self.queue_dir / "pid" / "master.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return None
        return pid if Path(exe).name == "master" else None

    def use_base(self, base_dn: str) -> None:
        """Serve the accounts below another base DN (tests: one subtree per test). The
        configuration is rendered again and both servers reload it; Dovecot's auth
        cache goes with its auth process."""
        self.ldap = dataclasses.replace(self.ldap, base_dn=base_dn)
        if self.dovecot_running():
            self._prepare_dovecot()
            self.doveadm("reload")
        pid = self._postfix_master_pid()
        if self._postfix_up and pid is not None:
            self._prepare_postfix()
            # What `postfix reload` does after its ~1.5 s of checks: HUP the master, which
            # restarts its services with the new configuration.
            # Processes of the old generation finish their session and exit; wait for
            # them, or the next connection may still reach one with the old tables.
            old = processes.children_of(pid, ("smtpd", "cleanup", "trivial-rewrite"))
            os.kill(pid, signal.SIGHUP)
            deadline = time.monotonic() + 10
            while old & processes.children_of(pid, ()) and time.monotonic() < deadline:
                time.sleep(0.02)

    def doveadm(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `doveadm -c <our dovecot.conf> ARGS` (raises MailStackError on failure)."""
        done = subprocess.run(
            [DOVEADM, "-c", str(self.dovecot_conf), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise MailStackError(f"doveadm {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done

    # ------------------------------------------------------------------ configuration

    def _mail_ids(self) -> tuple[int, int]:
        user = pwd.getpwnam(MAIL_USER)
        return user.pw_uid, user.pw_gid

    def _prepare_dovecot(self) -> None:
        uid, gid = self._mail_ids()
        self._make_directory()
        self.dovecot_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        self.mail_root.mkdir(exist_ok=True, mode=0o700)
        os.chown(self.mail_root, uid, gid)
        (self.dovecot_dir / "state").mkdir(exist_ok=True)
        values = {
            "base_dir": self.dovecot_dir / "run",
            "state_dir": self.dovecot_dir / "state",
            "instance": f"{self.imap_port}",
            "log_path": self.dovecot_log,
            "auth_failure_delay": f"{self.auth_failure_delay_s} secs",
            "anvil_penalty": "" if self.auth_penalty else _NO_ANVIL_PENALTY,
            "mail_uid": uid,
            "mail_gid": gid,
            "mail_root": self.mail_root,
            "imap_port": self.imap_port,
            "lmtp_port": self.lmtp_port,
            "doveadm_port": self.doveadm_port,
            "auth_port": self.auth_port,
            "doveadm_password": self.doveadm_password,
            "conf_dir": self.dovecot_dir,
            "imaps_port": self.imaps_port,
            "tls_cert": self.tls.cert_file,
            "tls_key": self.tls.key_file,
        }
        processes.write_file(self.dovecot_conf, _render("dovecot.conf.tmpl", values), 0o600)
        for role, body in (
            ("apppw", DOVECOT_APP_PASSDB),
            ("passdb", DOVECOT_PASSDB),
            ("userdb", DOVECOT_USERDB),
        ):
            text = _render(
                "dovecot-ldap.conf.ext.tmpl",
                {
                    "role": role,
                    "ldap_url": self.ldap.url,
                    "bind_dn": self.ldap.bind_dn,
                    "bind_pw": self.ldap.password,
                    "base_dn": self.ldap.base_dn,
                    "tls": self.ldap.tls_lines("demand", "tls"),
                    "body": body.replace("{mail_root}", str(self.mail_root))
                    .replace("{mail_uid}", str(uid))
                    .replace("{mail_gid}", str(gid)),
                },
            )
            processes.write_file(self.dovecot_dir / f"dovecot-ldap-{role}.conf.ext", text, 0o600)

    def _make_directory(self) -> None:
        """Create the stack's folder, searchable by the mail account (never a parent
        opened: a private one sends the stack elsewhere, see `relocated`)."""
        reason = self.relocated
        if reason is not None and not self.directory.exists():
            log.warning("%s", reason)
            self.directory.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        os.chmod(self.directory, os.stat(self.directory).st_mode | 0o011)  # noqa: S103 - search only
        if reason is not None:
            (self.directory / "SOURCE").write_text(f"the dev mail stack of {self.configured}\n")
            with contextlib.suppress(OSError):  # an empty folder left by an older version
                self.configured.rmdir()
            if not self.configured.exists() and not self.configured.is_symlink():
                self.configured.parent.mkdir(parents=True, exist_ok=True)
                self.configured.symlink_to(self.directory)

    def _prepare_postfix(self) -> None:
        self._make_directory()
        self.postfix_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        self.queue_dir.mkdir(exist_ok=True, mode=0o755)
        data_dir = self.directory / "postfix-data"
        data_dir.mkdir(exist_ok=True, mode=0o700)
        postfix = pwd.getpwnam("postfix")
        os.chown(data_dir, postfix.pw_uid, postfix.pw_gid)
        values = {
            "queue_dir": self.queue_dir,
            "data_dir": data_dir,
            "log_path": self.postfix_log,
            "hostname": self.hostname,
            "conf_dir": self.postfix_dir,
            "lmtp_port": self.lmtp_port,
            "smtp_port": self.smtp_port,
            "submission_port": self.submission_port,
            "auth_port": self.auth_port,
            "tls_cert": self.tls.cert_file,
            "tls_key": self.tls.key_file,
        }
        processes.write_file(self.postfix_dir / "main.cf", _render("main.cf.tmpl", values), 0o644)
        processes.write_file(
            self.postfix_dir / "master.cf", _render("master.cf.tmpl", values), 0o644
        )
        # The tables hold the bind password: readable by root and Postfix's group only.
        postfix_gid = grp.getgrnam("postfix").gr_gid
        for table, query, attribute, extra in POSTFIX_TABLES:
            text = _render(
                "ldap-table.cf.tmpl",
                {
                    "table": table,
                    "ldap_url": self.ldap.url,
                    "bind_dn": self.ldap.bind_dn,
                    "bind_pw": self.ldap.password,
                    "base_dn": self.ldap.base_dn,
                    "tls": self.ldap.tls_lines("yes", "start_tls"),
                    "query_filter": query,
                    "result_attribute": attribute,
                    "extra": extra,
                },
            )
            path = self.postfix_dir / f"ldap-{table}.cf"
            processes.write_file(path, text, 0o640)
            os.chown(path, 0, postfix_gid)
        self.postfix_log.touch()

    # ------------------------------------------------------------------ helpers

    def _wait_greeting(
        self, port: int, greeting: bytes, deadline: float, what: str, alive: Callable[[], bool]
    ) -> None:
        last = "no answer"
        while True:
            try:
                with socket.create_connection((self.host, port), timeout=1.0) as sock:
                    sock.settimeout(2.0)
                    banner = sock.recv(256)
                    if banner.startswith(greeting):
                        return
                    last = repr(banner[:80])
            except OSError as exc:
                last = str(exc)
            if not alive():
                log = self.dovecot_log if what == "dovecot" else self.postfix_log
                raise MailStackError(
                    f"{what} exited during start; log tail:\n{processes.log_tail(log)}"
                )
            if time.monotonic() > deadline:
                log = self.dovecot_log if what == "dovecot" else self.postfix_log
                raise MailStackError(
                    f"{what} did not answer on {self.host}:{port} in time ({last}); "
                    f"log tail:\n{processes.log_tail(log)}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        return (
            f"--- postfix\n{processes.log_tail(self.postfix_log, lines)}\n"
            f"--- dovecot\n{processes.log_tail(self.dovecot_log, lines)}"
        )

    def remove(self) -> None:
        """Stop and delete the whole folder (mail included), and the link to it."""
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
        if self.configured.is_symlink():
            self.configured.unlink()


def _render(template: str, values: dict[str, object]) -> str:
    return string.Template((TEMPLATE_DIR / template).read_text()).substitute(
        {k: str(v) for k, v in values.items()}
    )


def _check_port_free(host: str, port: int) -> None:
    problem = processes.port_taken(host, port)
    if problem is not None:
        raise MailStackError(problem)
