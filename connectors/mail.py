"""Mail connector (Dovecot, through `doveadm -c FILE …`): mailboxes of directory accounts.

Postfix and Dovecot find accounts in the LDAP directory themselves (docs/mail.md), so
what is left for a connector is what the directory cannot do:

  create   make the mailbox (INBOX) of a new account and check that Dovecot resolves
           the user to the mailbox the directory names and applies its quota;
  disable  flush Dovecot's auth cache for the user and kick open sessions, so a
           disabled account stops working at once, not when the cache expires;
  enable   flush the auth cache (a cached refusal must not outlive the enable);
  modify   flush the auth cache; with acl_grant / acl_revoke: a deputy's access to the
           owner's INBOX (ủy quyền, Dovecot ACL, seen as shared/<owner>/INBOX);
  delete   kick, export the mailbox to an archive file, then delete it.

A mailbox lives at `<mail_root>/<location>/Maildir`; `location` (the directory's
idhubMailbox) ends with the account's immutable key, so a mailbox is found by key
without asking the directory, and archiving works after the entry has gone.

Operations (connectors.base.Operation, target = the person key):
  CREATE   name = location, attributes {"user": (uid,), "quota": (bytes,)} (quota optional)
  DISABLE, ENABLE, MODIFY   attributes {"user": (uid,)}; MODIFY may add
           "acl_grant" / "acl_revoke": deputies' uids, and "acl_rights" (Dovecot's
           right names; default lookup, read, write-seen)
  DELETE   name = location, attributes {"user": (uid,)}; Result.name = the archive file

Errors: Dovecot not running or not answering (doveadm exit 75, refused sockets, a
timeout) → TargetUnavailable; Dovecot does not know the user or resolves it elsewhere →
TargetMisconfigured (the directory and the mail server disagree; retried); anything
else doveadm refuses → InvalidData.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from connectors.base import (
    Account,
    AccountKey,
    Capability,
    Connector,
    ConnectorError,
    Health,
    InvalidData,
    KeyKind,
    ManagesMailboxes,
    Operation,
    OpKind,
    Result,
    TargetMisconfigured,
    TargetUnavailable,
)

__all__ = ["MailConfig", "MailConnector"]

EX_DATAERR = 65  # e.g. "Mailbox already exists"
EX_NOUSER = 67
EX_NOHOST = 68  # kick: "no users kicked"
EX_TEMPFAIL = 75
DELEGATED_RIGHTS = ("lookup", "read", "write-seen")
_ACL_RIGHTS = frozenset(
    {"lookup", "read", "write", "write-seen", "write-deleted", "insert", "post", "expunge",
     "create", "delete"}
)  # fmt: skip  # Dovecot's names; "admin" is never handed out
"""What a deputy may do in the owner's INBOX: see it, read, mark as read."""
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}")
_LOCATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*(/[A-Za-z0-9][A-Za-z0-9-]*)*")


@dataclass(frozen=True)
class MailConfig:
    """How to reach Dovecot: the doveadm binary, the dovecot.conf it reads (`-c`), the
    folder mailbox locations are relative to, and where archives are written."""

    doveadm_config: str
    mail_root: str
    archive_dir: str
    doveadm: str = "/usr/bin/doveadm"
    timeout_s: float = 10.0


class MailConnector:
    """Dovecot mailboxes by person key (see the module docstring)."""

    def __init__(self, config: MailConfig) -> None:
        self.config = config
        self._root = Path(config.mail_root)

    def __repr__(self) -> str:
        return f"MailConnector(doveadm -c {self.config.doveadm_config})"

    @property
    def name(self) -> str:
        return "mail"

    def capabilities(self) -> frozenset[str]:
        return frozenset(
            {
                Capability.READ,
                Capability.SCAN,
                Capability.CREATE,
                Capability.MODIFY,
                Capability.DISABLE,
                Capability.DELETE,
            }
        )

    def close(self) -> None:
        """Nothing is held open: every call is one doveadm process."""

    # ------------------------------------------------------------------ doveadm

    def _doveadm(self, what: str, *args: str, ok: tuple[int, ...] = (0,)) -> str:
        """Run doveadm; its stdout, or a connector error saying what failed."""
        argv = [self.config.doveadm, "-c", self.config.doveadm_config, *args]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=self.config.timeout_s,
                check=False,
            )
        except FileNotFoundError as exc:
            raise TargetMisconfigured(f"mail: {what}: {self.config.doveadm} not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise TargetUnavailable(
                f"mail: {what}: doveadm did not answer in {self.config.timeout_s:g} s"
            ) from exc
        detail = " ".join((done.stderr or done.stdout).split())[:500]
        # doveadm exits 0 for some failures and says so on stderr (auth cache flush).
        refused = "connect(" in done.stderr or "net_connect_unix(" in done.stderr
        if done.returncode == EX_TEMPFAIL or refused:
            raise TargetUnavailable(f"mail: {what}: Dovecot is not answering: {detail}")
        if done.returncode not in ok:
            if done.returncode == EX_NOUSER:
                raise TargetMisconfigured(
                    f"mail: {what}: Dovecot does not know the user (is the directory entry "
                    f"there, and does Dovecot read this directory?): {detail}"
                )
            raise InvalidData(f"mail: {what}: doveadm exit {done.returncode}: {detail}")
        return done.stdout

    def check(self) -> Health:
        started = time.monotonic()
        try:
            self._doveadm("check", "who")
        except ConnectorError as exc:
            return Health(False, str(exc), (time.monotonic() - started) * 1000)
        return Health(True, "Dovecot answers", (time.monotonic() - started) * 1000)

    # ------------------------------------------------------------------ read

    def _path(self, location: str) -> Path:
        if not _LOCATION.fullmatch(location) or ".." in location.split("/"):
            raise InvalidData(f"mail: {location!r} is not a mailbox location")
        return self._root / location

    def read_location(self, key: AccountKey, location: str) -> Account | None:
        """The mailbox at `location`, if it exists (no doveadm call: a directory test)."""
        maildir = self._path(location) / "Maildir"
        if not maildir.is_dir():
            return None
        return Account(key, location, {"location": (location,)})

    def read(self, key: AccountKey) -> Account | None:
        """The mailbox whose location ends with the key (<root>/*/<key>)."""
        if key.kind is not KeyKind.PERSON or not _LOCATION.fullmatch(key.id):
            return None
        for parent in sorted(self._root.glob("*")):
            candidate = parent / key.id.lower()
            if (candidate / "Maildir").is_dir():
                location = candidate.relative_to(self._root).as_posix()
                return Account(key, location, {"location": (location,)})
        return None

    def scan(self) -> Iterator[Account]:
        for maildir in sorted(self._root.glob("*/*/Maildir")):
            box = maildir.parent
            location = box.relative_to(self._root).as_posix()
            yield Account(AccountKey(box.name), location, {"location": (location,)})

    # ------------------------------------------------------------------ apply

    def apply(self, ops: Sequence[Operation]) -> list[Result]:
        """Apply in order. Dovecot going away stops the batch (TargetUnavailable is
        raised: the caller retries everything, which is harmless); other errors are
        reported per operation."""
        results: list[Result] = []
        for op in ops:
            try:
                results.append(self._apply_one(op))
            except TargetUnavailable as exc:
                if isinstance(exc, TargetMisconfigured):
                    results.append(Result(op, error=exc))
                    continue
                raise
            except ConnectorError as exc:
                results.append(Result(op, error=exc))
        return results

    def _user(self, op: Operation) -> str:
        users = op.attributes.get("user", ())
        if len(users) != 1 or not _SAFE.fullmatch(users[0]):
            raise InvalidData(f"mail: {op.kind} {op.target}: needs one valid user, got {users!r}")
        return users[0]

    def _apply_one(self, op: Operation) -> Result:
        if op.kind is OpKind.CREATE:
            return self._create(op)
        if op.kind is OpKind.DISABLE:
            user = self._user(op)
            self._doveadm(f"disable {user}: flush auth cache", "auth", "cache", "flush", user)
            self._doveadm(f"disable {user}: kick", "kick", user, ok=(0, EX_NOHOST))
            return Result(op, name=op.current)
        if op.kind is OpKind.MODIFY and (
            "acl_grant" in op.attributes or "acl_revoke" in op.attributes
        ):
            return self._delegate(op)
        if op.kind in (OpKind.ENABLE, OpKind.MODIFY):
            user = self._user(op)
            self._doveadm(f"{op.kind} {user}: flush auth cache", "auth", "cache", "flush", user)
            return Result(op, name=op.current)
        if op.kind is OpKind.DELETE:
            return self._delete(op)
        raise InvalidData(f"mail: {op.kind} is not supported")

    def read_acl(self, user: str) -> frozenset[str]:
        """The users the ACL of `user`'s INBOX names (delegations: who else may read it)."""
        if not _SAFE.fullmatch(user):
            raise InvalidData(f"mail: {user!r} is not a valid user")
        table = self._doveadm(f"ACL of {user}", "-f", "tab", "acl", "get", "-u", user, "INBOX")
        names = set()
        for line in table.splitlines()[1:]:
            ident = line.split("\t", 1)[0]
            if ident.startswith("user="):
                names.add(ident[len("user=") :])
        return frozenset(names)

    def _delegate(self, op: Operation) -> Result:
        """Grant or revoke a deputy's access to the owner's INBOX (Dovecot ACL; the
        deputy sees it as shared/<owner>/INBOX)."""
        owner = self._user(op)
        rights = op.attributes.get("acl_rights", ()) or DELEGATED_RIGHTS
        if not set(rights) <= _ACL_RIGHTS:
            raise InvalidData(f"mail: unknown ACL rights {sorted(set(rights) - _ACL_RIGHTS)}")
        for deputy in op.attributes.get("acl_grant", ()):
            if not _SAFE.fullmatch(deputy):
                raise InvalidData(f"mail: {deputy!r} is not a valid user")
            self._doveadm(
                f"delegate {owner} to {deputy}",
                "acl", "set", "-u", owner, "INBOX", f"user={deputy}", *rights,
            )  # fmt: skip
        for deputy in op.attributes.get("acl_revoke", ()):
            if not _SAFE.fullmatch(deputy):
                raise InvalidData(f"mail: {deputy!r} is not a valid user")
            self._doveadm(
                f"end delegation of {owner} to {deputy}",
                "acl", "delete", "-u", owner, "INBOX", f"user={deputy}",
            )  # fmt: skip
        # the shared-mailbox list the deputies' LIST reads
        self._doveadm(f"delegations of {owner}: recalc", "acl", "recalc", "-u", owner)
        return Result(op, name=op.current)

    def _create(self, op: Operation) -> Result:
        assert op.name is not None
        user = self._user(op)
        home = self._path(op.name)
        what = f"create mailbox of {user}"
        # A stale cached lookup (e.g. from before the entry existed) must not answer.
        self._doveadm(f"{what}: flush auth cache", "auth", "cache", "flush", user)
        fields = dict(
            line.split("\t", 1)
            for line in self._doveadm(what, "-f", "tab", "user", user).splitlines()[1:]
            if "\t" in line
        )
        if os.path.normpath(fields.get("home", "")) != os.path.normpath(home):
            raise TargetMisconfigured(
                f"mail: {what}: Dovecot resolves {user} to home {fields.get('home')!r}, "
                f"the directory names {str(home)!r}"
            )
        out = self._doveadm(what, "mailbox", "create", "-u", user, "INBOX", ok=(0, EX_DATAERR))
        del out
        if not (home / "Maildir").is_dir():
            raise InvalidData(f"mail: {what}: no Maildir under {home} after creating INBOX")
        quota = op.attributes.get("quota", ())
        if quota:
            self._check_quota(user, int(quota[0]))
        return Result(op, name=op.name)

    def _check_quota(self, user: str, limit_bytes: int) -> None:
        table = self._doveadm(f"quota of {user}", "-f", "tab", "quota", "get", "-u", user)
        for line in table.splitlines()[1:]:
            cols = line.split("\t")
            if len(cols) >= 4 and cols[1] == "STORAGE":
                if cols[3] != str(math.ceil(limit_bytes / 1024)):
                    raise TargetMisconfigured(
                        f"mail: quota of {user}: Dovecot applies {cols[3]} KiB, the directory "
                        f"says {limit_bytes} bytes (is the quota plugin reading idhubMailQuota?)"
                    )
                return
        raise TargetMisconfigured(f"mail: quota of {user}: Dovecot reports no storage quota")

    def _delete(self, op: Operation) -> Result:
        assert op.name is not None
        user = self._user(op)
        box = self._path(op.name)
        self._doveadm(f"delete mailbox of {user}: kick", "kick", user, ok=(0, EX_NOHOST))
        if not box.exists():
            return Result(op, name=None)  # nothing left to archive (a retried delete)
        archive = self.export(op.target, box)
        shutil.rmtree(box)
        return Result(op, name=str(archive))

    def export(self, key: AccountKey, box: Path) -> Path:
        """Write the whole mailbox (every folder, message files as delivered) into
        `<archive_dir>/<key>-<UTC time>.tar.gz`, atomically (a partial file never has
        the final name). Returns the archive's path."""
        folder = Path(self.config.archive_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise TargetMisconfigured(f"mail: cannot create {folder}: {exc}") from exc
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        final = folder / f"{key.id.lower()}-{stamp}.tar.gz"
        partial = final.with_name(final.name + ".part")
        try:
            with tarfile.open(partial, "w:gz") as tar:
                tar.add(box, arcname=key.id.lower())
            os.chmod(partial, 0o600)
            os.replace(partial, final)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise InvalidData(f"mail: cannot archive {box}: {exc}") from exc
        return final


def _conforms(connector: MailConnector) -> tuple[Connector, ManagesMailboxes]:
    return connector, connector  # mypy proves the protocols hold
