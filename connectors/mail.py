"""Mail connector (Dovecot, through doveadm): mailboxes of directory accounts.

Postfix and Dovecot find accounts in the LDAP directory themselves (docs/mail.md), so
what is left for a connector is what the directory cannot do:

  create   check that Dovecot resolves the user to the home the directory names, with
           the directory's quota (a userdb lookup after its cached lookup is flushed),
           then lay out the Maildir (cur, new, tmp; owned by the uid Dovecot names);
  disable  flush Dovecot's auth cache for the user and kick open sessions, so a
           disabled account stops working at once, not when the cache expires;
  enable   flush the auth cache (a cached refusal must not outlive the enable);
  modify   flush the auth cache (with "kick": end the user's sessions too, e.g. after an
           app password was revoked); with acl_grant / acl_revoke: a deputy's access to the
           owner's INBOX (ủy quyền, Dovecot ACL, seen as shared/<owner>/INBOX);
  delete   kick, export the mailbox to an archive file, then delete it.

In bulk: `apply` sends a whole batch's commands together (connectors/doveadm.py): with
the doveadm HTTP API one request carries the flushes, kicks and lookups of every
operation, a second the ACL changes; the Maildirs are made between the two. Dovecot's
own `mailbox create` costs ~7 ms a mailbox in the doveadm server (storage, quota and ACL
plugins set up per user), laying out three folders ~0.1 ms: Dovecot writes its index
files on the first login or delivery, as it does for any Maildir.

A mailbox lives at `<mail_root>/<location>/Maildir`; `location` (the directory's
idhubMailbox) ends with the account's immutable key, so a mailbox is found by key
without asking the directory, and archiving works after the entry has gone.

Operations (connectors.base.Operation, target = the person key):
  CREATE   name = location, attributes {"user": (uid,), "quota": (bytes,)} (quota optional)
  DISABLE, ENABLE, MODIFY   attributes {"user": (uid,)}; MODIFY may add
           "acl_grant" / "acl_revoke": deputies' uids, and "acl_rights" (Dovecot's
           right names; default lookup, read, write-seen), or "kick" (any value)
  DELETE   name = location, attributes {"user": (uid,)}; Result.name = the archive file

Errors: Dovecot not running or not answering (refused connection, doveadm exit 75, a
timeout) → TargetUnavailable for the whole batch (raised: retried, harmlessly);
Dovecot does not know the user or resolves it elsewhere → TargetMisconfigured for that
operation (the directory and the mail server disagree; retried); anything else doveadm
refuses → InvalidData for that operation only.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from connectors.doveadm import (
    EX_TEMPFAIL,
    Command,
    DoveadmCli,
    DoveadmHttp,
    Reply,
    Transport,
    flush_chunks,
)

__all__ = ["MailConfig", "MailConnector"]

EX_NOUSER = 67
EX_NOHOST = 68  # kick: "no users kicked"
DELEGATED_RIGHTS = ("lookup", "read", "write-seen")
"""What a deputy may do in the owner's INBOX: see it, read, mark as read."""
_ACL_RIGHTS = frozenset(
    {"lookup", "read", "write", "write-seen", "write-deleted", "insert", "post", "expunge",
     "create", "delete"}
)  # fmt: skip  # Dovecot's names; "admin" is never handed out
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}")
_LOCATION = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*(/[A-Za-z0-9][A-Za-z0-9-]*)*")
_QUOTA_RULE = re.compile(r"\*:bytes=(\d+)")
LOOKUPS_PER_COMMAND = 100  # users in one "user" command (HTTP API)


@dataclass(frozen=True)
class MailConfig:
    """How to reach Dovecot: the doveadm HTTP API (`doveadm_url`, with
    `doveadm_password`) or, when no URL is given, the doveadm binary and the
    dovecot.conf it reads (`-c`); the folder mailbox locations are relative to, and
    where archives are written."""

    doveadm_config: str
    mail_root: str
    archive_dir: str
    doveadm: str = "/usr/bin/doveadm"
    timeout_s: float = 10.0
    doveadm_url: str = ""
    doveadm_password: str = field(default="", repr=False)


@dataclass
class _Item:
    """One operation on its way through a batch."""

    op: Operation
    user: str = ""
    error: ConnectorError | None = None
    fields: dict[str, str] | None = None  # the userdb lookup (CREATE)
    name: str | None = None  # Result.name

    def fail(self, error: ConnectorError) -> None:
        if self.error is None:
            self.error = error


class MailConnector:
    """Dovecot mailboxes by person key (see the module docstring)."""

    def __init__(self, config: MailConfig) -> None:
        self.config = config
        self._root = Path(config.mail_root)
        self.transport: Transport = (
            DoveadmHttp(config.doveadm_url, config.doveadm_password, timeout_s=config.timeout_s)
            if config.doveadm_url
            else DoveadmCli(config.doveadm, config.doveadm_config, timeout_s=config.timeout_s)
        )

    def __repr__(self) -> str:
        return f"MailConnector({self.transport!r})"

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
        """Nothing is held open: a connection (or process) per request."""

    def _run(self, commands: Sequence[Command]) -> list[Reply]:
        return self.transport.run(commands) if commands else []

    def check(self) -> Health:
        started = time.monotonic()
        try:
            (reply,) = self._run([Command("who")])
            if reply.code:
                raise InvalidData(f"mail: doveadm who: exit {reply.code}: {reply.detail}")
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

    def read_acl(self, user: str) -> frozenset[str]:
        """The users the ACL of `user`'s INBOX names (delegations: who else may read it)."""
        if not _SAFE.fullmatch(user):
            raise InvalidData(f"mail: {user!r} is not a valid user")
        (reply,) = self._run([Command("aclGet", {"user": user, "mailbox": "INBOX"})])
        error = _failure(f"ACL of {user}", reply)
        if error is not None:
            raise error
        names = set()
        for row in reply.output or ():
            ident = row.get("id", "")
            if ident.startswith("user="):
                names.add(ident[len("user=") :])
        return frozenset(names)

    # ------------------------------------------------------------------ apply

    def apply(self, ops: Sequence[Operation]) -> list[Result]:
        """Apply a batch: one result per operation, in order. Dovecot going away stops
        the batch (TargetUnavailable is raised: the caller retries everything, which is
        harmless); what Dovecot refuses for one operation is that operation's error."""
        items = [self._item(op) for op in ops]
        self._auth_phase([i for i in items if i.error is None])
        for item in items:
            if item.error is None and item.op.kind is OpKind.CREATE:
                self._create(item)
            elif item.error is None and item.op.kind is OpKind.DELETE:
                self._delete(item)
        self._acl_phase([i for i in items if i.error is None and _delegates(i.op)])
        return [
            Result(i.op, error=i.error) if i.error else Result(i.op, name=i.name) for i in items
        ]

    def _item(self, op: Operation) -> _Item:
        item = _Item(op)
        users = op.attributes.get("user", ())
        if op.kind not in (OpKind.CREATE, OpKind.DISABLE, OpKind.ENABLE, OpKind.MODIFY,
                           OpKind.DELETE):  # fmt: skip
            item.fail(InvalidData(f"mail: {op.kind} is not supported"))
        elif len(users) != 1 or not _SAFE.fullmatch(users[0]):
            item.fail(
                InvalidData(f"mail: {op.kind} {op.target}: needs one valid user, got {users!r}")
            )
        elif op.kind in (OpKind.CREATE, OpKind.DELETE) and (
            op.name is None or not _valid_location(op.name)
        ):
            item.fail(InvalidData(f"mail: {op.name!r} is not a mailbox location"))
        elif _delegates(op):
            try:
                _acl_commands(op, users[0])
            except InvalidData as exc:
                item.fail(exc)
        if item.error is None:
            item.user = users[0]
            item.name = op.name if op.kind is OpKind.CREATE else op.current
        return item

    def _auth_phase(self, items: list[_Item]) -> None:
        """Flush the cached lookups, kick sessions, look up new users: one request."""
        commands: list[Command] = []
        served: list[list[_Item]] = []  # the items each command is for

        flushed = [i for i in items if i.op.kind is not OpKind.DELETE and not _delegates(i.op)]
        by_user: dict[str, list[_Item]] = {}
        for i in flushed:
            by_user.setdefault(i.user, []).append(i)
        for names in flush_chunks(list(by_user)):
            commands.append(Command("authCacheFlush", {"user": names}))
            served.append([i for u in names for i in by_user[u]])
        # Kicks before any mail command: see connectors/doveadm.py.
        for i in items:
            if i.op.kind in (OpKind.DISABLE, OpKind.DELETE) or i.op.attributes.get("kick"):
                commands.append(Command("kick", {"mask": [i.user]}))
                served.append([i])
        creates = [i for i in items if i.op.kind is OpKind.CREATE]
        size = LOOKUPS_PER_COMMAND if self.transport.batches_users else 1
        lookups = [creates[n : n + size] for n in range(0, len(creates), size)]
        for chunk in lookups:
            commands.append(Command("user", {"userMask": [i.user for i in chunk]}))
            served.append(chunk)
        replies = self._run(commands)
        retry: list[_Item] = []
        for command, reply, chunk in zip(commands, replies, served, strict=True):
            if command.name == "user" and reply.code == EX_NOUSER and len(chunk) > 1:
                retry.extend(chunk)  # somebody in it is unknown: ask one by one
                continue
            error = _failure(_what(command, chunk), reply, ok=_OK.get(command.name, (0,)))
            for i in chunk:
                if error is not None:
                    i.fail(error)
                elif command.name == "user":
                    i.fields = (reply.output or {}).get(i.user)
        if retry:
            singles = [Command("user", {"userMask": [i.user]}) for i in retry]
            for item, reply in zip(retry, self._run(singles), strict=True):
                error = _failure(f"create mailbox of {item.user}", reply)
                if error is not None:
                    item.fail(error)
                else:
                    item.fields = (reply.output or {}).get(item.user)

    def _acl_phase(self, items: list[_Item]) -> None:
        """Grant or revoke deputies' access to owners' INBOXes: one request."""
        commands: list[Command] = []
        served: list[_Item] = []
        for i in items:
            for command in _acl_commands(i.op, i.user):
                commands.append(command)
                served.append(i)
        for command, reply, item in zip(commands, self._run(commands), served, strict=True):
            error = _failure(_what(command, [item]), reply)
            if error is not None:
                item.fail(error)

    def _create(self, item: _Item) -> None:
        assert item.op.name is not None
        user, home = item.user, self._path(item.op.name)
        fields = item.fields
        if fields is None:
            item.fail(_unknown(f"create mailbox of {user}", "the lookup answered nothing"))
            return
        if os.path.normpath(fields.get("home", "")) != os.path.normpath(home):
            item.fail(
                TargetMisconfigured(
                    f"mail: create mailbox of {user}: Dovecot resolves {user} to home "
                    f"{fields.get('home')!r}, the directory names {str(home)!r}"
                )
            )
            return
        quota = item.op.attributes.get("quota", ())
        if quota:
            error = _quota_mismatch(user, int(quota[0]), fields.get("quota_rule", ""))
            if error is not None:
                item.fail(error)
                return
        try:
            make_maildir(self._root, home, int(fields["uid"]), int(fields["gid"]))
        except (KeyError, ValueError) as exc:
            item.fail(TargetMisconfigured(f"mail: Dovecot names no uid/gid for {user}: {exc}"))
        except NotADirectoryError as exc:  # something else is where the mailbox goes
            item.fail(InvalidData(f"mail: cannot make the Maildir of {user}: {exc}"))
        except OSError as exc:  # e.g. no right to hand it to Dovecot's uid
            item.fail(TargetMisconfigured(f"mail: cannot make the Maildir of {user}: {exc}"))

    def _delete(self, item: _Item) -> None:
        assert item.op.name is not None
        box = self._path(item.op.name)
        if not box.exists():
            item.name = None  # nothing left to archive (a retried delete)
            return
        try:
            archive = self.export(item.op.target, box)
            shutil.rmtree(box)
        except ConnectorError as exc:
            item.fail(exc)
            return
        item.name = str(archive)

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


def make_maildir(root: Path, home: Path, uid: int, gid: int) -> None:
    """Lay out `<home>/Maildir` (cur, new, tmp) as Dovecot would, each folder 0700 and
    owned by uid:gid. The Maildir appears whole or not at all (made aside, renamed):
    its presence is what says the mailbox exists."""
    maildir = os.path.join(home, "Maildir")  # plain strings: thousands per round
    if os.path.isdir(maildir):
        return
    path = str(root)
    for part in home.relative_to(root).parts:
        path = os.path.join(path, part)
        _mkdir(path, uid, gid)
    aside = os.path.join(home, f".Maildir.{os.getpid()}.part")
    if os.path.lexists(aside):  # left by a crash
        shutil.rmtree(aside, ignore_errors=True)
    _mkdir(aside, uid, gid)
    for sub in ("cur", "new", "tmp"):
        _mkdir(os.path.join(aside, sub), uid, gid)
    try:
        os.rename(aside, maildir)
    except OSError:
        shutil.rmtree(aside, ignore_errors=True)
        if not os.path.isdir(maildir):
            raise


def _mkdir(path: str, uid: int, gid: int) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not os.path.isdir(path):
            raise NotADirectoryError(f"{path} is there and is not a folder") from None
        return
    if (os.geteuid(), os.getegid()) != (uid, gid):
        os.chown(path, uid, gid)


_OK = {"kick": (0, EX_NOHOST)}


def _failure(what: str, reply: Reply, ok: tuple[int, ...] = (0,)) -> ConnectorError | None:
    """The error a command's exit code means (None: it did its work). Dovecot away
    (exit 75) stops the batch."""
    if reply.code in ok:
        return None
    if reply.code == EX_TEMPFAIL:
        raise TargetUnavailable(f"mail: {what}: Dovecot is not answering: {reply.detail}")
    if reply.code == EX_NOUSER:
        return _unknown(what, reply.detail)
    return InvalidData(f"mail: {what}: doveadm exit {reply.code}: {reply.detail}")


def _unknown(what: str, detail: str) -> TargetMisconfigured:
    return TargetMisconfigured(
        f"mail: {what}: Dovecot does not know the user (is the directory entry there, "
        f"and does Dovecot read this directory?): {detail}"
    )


def _what(command: Command, items: list[_Item]) -> str:
    users = ", ".join(sorted({i.user for i in items}))
    return {
        "authCacheFlush": f"flush auth cache of {users}",
        "kick": f"kick {users}",
        "user": f"create mailbox of {users}",
    }.get(command.name, f"{command.name} {command.params}")


def _quota_mismatch(user: str, limit_bytes: int, rule: str) -> TargetMisconfigured | None:
    """The directory's quota against the rule Dovecot's userdb gives (quota_rule)."""
    found = _QUOTA_RULE.fullmatch(rule)
    if found is None:
        return TargetMisconfigured(
            f"mail: quota of {user}: Dovecot reports no storage quota (quota_rule {rule!r})"
        )
    if int(found.group(1)) != limit_bytes:
        kib = -(-int(found.group(1)) // 1024)
        return TargetMisconfigured(
            f"mail: quota of {user}: Dovecot applies {kib} KiB ({rule}), the directory says "
            f"{limit_bytes} bytes (is the userdb reading idhubMailQuota?)"
        )
    return None


def _valid_location(location: str) -> bool:
    return bool(_LOCATION.fullmatch(location)) and ".." not in location.split("/")


def _delegates(op: Operation) -> bool:
    grants = "acl_grant" in op.attributes or "acl_revoke" in op.attributes
    return op.kind is OpKind.MODIFY and grants


def _acl_commands(op: Operation, owner: str) -> list[Command]:
    """A deputy's access to the owner's INBOX (the deputy sees it as
    shared/<owner>/INBOX), then the shared-mailbox list the deputies' LIST reads."""
    rights = op.attributes.get("acl_rights", ()) or DELEGATED_RIGHTS
    if not set(rights) <= _ACL_RIGHTS:
        raise InvalidData(f"mail: unknown ACL rights {sorted(set(rights) - _ACL_RIGHTS)}")
    commands = []
    for key, name in (("acl_grant", "aclSet"), ("acl_revoke", "aclDelete")):
        for deputy in op.attributes.get(key, ()):
            if not _SAFE.fullmatch(deputy):
                raise InvalidData(f"mail: {deputy!r} is not a valid user")
            params: dict[str, Any] = {"user": owner, "mailbox": "INBOX", "id": f"user={deputy}"}
            if name == "aclSet":
                params["right"] = list(rights)
            commands.append(Command(name, params))
    commands.append(Command("aclRecalc", {"user": owner}))
    return commands


def _conforms(connector: MailConnector) -> tuple[Connector, ManagesMailboxes]:
    return connector, connector  # mypy proves the protocols hold
