"""Mail connector (Dovecot, through doveadm): mailboxes of directory accounts.

Postfix and Dovecot find accounts in the LDAP directory themselves (docs/mail.md), so
what is left for a connector is what the directory cannot do:

  create   check that Dovecot resolves the user to the home the directory names, with
           the directory's quota (a userdb lookup after its cached lookup is flushed),
           then make the Maildir (connectors/maildirs.py: Dovecot makes it through
           doveadm, or the worker lays it out where the mail store is mounted);
  disable  flush Dovecot's auth cache for the user and kick open sessions, so a
           disabled account stops working at once, not when the cache expires;
  enable   flush the auth cache (a cached refusal must not outlive the enable);
  modify   flush the auth cache (with "kick": end the user's sessions too, e.g. after an
           app password was revoked); with acl_grant / acl_revoke: a deputy's access to the
           owner's INBOX (ủy quyền, Dovecot ACL, seen as shared/<owner>/INBOX);
  delete   kick, archive the mailbox whole, then remove it.

In bulk: `apply` sends a whole batch's commands together (connectors/doveadm.py): with
the doveadm HTTP API one request carries the flushes, kicks and lookups of every
operation, one more makes the new mailboxes, one more the ACL changes.

A mailbox lives at `<mail_root>/<location>/Maildir`, `mail_root` being the userdb's
home prefix on the mail host; `location` (the directory's idhubMailbox) ends with the
account's immutable key, so a mailbox is found by key without asking the directory, and
archiving works after the entry has gone.

Operations (connectors.base.Operation, target = the person key):
  CREATE   name = location, attributes {"user": (uid,), "quota": (bytes,)} (quota optional)
  DISABLE, ENABLE, MODIFY   attributes {"user": (uid,)}; MODIFY may add
           "acl_grant" / "acl_revoke": deputies' uids, and "acl_rights" (Dovecot's
           right names; default lookup, read, write-seen), or "kick" (any value)
  DELETE   name = location, attributes {"user": (uid,)}; Result.name = the archive (a
           .tar.gz, or a folder on the mail host; connectors/maildirs.py)

Errors: Dovecot not running or not answering (refused connection, doveadm exit 75, a
timeout) → TargetUnavailable for the whole batch (raised: retried, harmlessly);
Dovecot does not know the user or resolves it elsewhere → TargetMisconfigured for that
operation (the directory and the mail server disagree; retried); anything else doveadm
refuses → InvalidData for that operation only.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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
from connectors.maildirs import LocalMaildirs, Made, Maildirs, RemoteMaildirs

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
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_QUOTA_RULE = re.compile(r"\*:bytes=(\d+)")
LOOKUPS_PER_COMMAND = 100  # users in one "user" command (HTTP API)


@dataclass(frozen=True)
class MailConfig:
    """How to reach Dovecot: the doveadm HTTP API (`doveadm_url`, with
    `doveadm_password`; https checked against `doveadm_ca_file` or the system's CAs) or,
    when no URL is given, the doveadm binary and the dovecot.conf it reads (`-c`).
    `mail_root`: the userdb's home prefix on the mail host; `mailbox_access`: how
    Maildirs are reached ("doveadm", or "files" where mail_root is mounted); archives go
    to `archive_dir` (on the mail host with doveadm, on this host with files)."""

    doveadm_config: str
    mail_root: str
    archive_dir: str
    doveadm: str = "/usr/bin/doveadm"
    timeout_s: float = 10.0
    doveadm_url: str = ""
    doveadm_password: str = field(default="", repr=False)
    mailbox_access: str = "doveadm"
    doveadm_ca_file: str = ""


MAILBOX_ACCESS = ("doveadm", "files")


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
        if config.mailbox_access not in MAILBOX_ACCESS:
            raise TargetMisconfigured(
                f"mail: mailbox_access {config.mailbox_access!r} is not one of {MAILBOX_ACCESS}"
            )
        self.config = config
        self.transport = (
            DoveadmHttp(
                config.doveadm_url,
                config.doveadm_password,
                timeout_s=config.timeout_s,
                ca_file=config.doveadm_ca_file,
            )
            if config.doveadm_url
            else DoveadmCli(config.doveadm, config.doveadm_config, timeout_s=config.timeout_s)
        )

    @property
    def transport(self) -> Transport:
        return self._transport

    @transport.setter
    def transport(self, transport: Transport) -> None:
        self._transport = transport
        self.maildirs: Maildirs = (
            LocalMaildirs(self.config.mail_root, self.config.archive_dir)
            if self.config.mailbox_access == "files"
            else RemoteMaildirs(transport, self.config.mail_root, self.config.archive_dir)
        )

    def __repr__(self) -> str:
        return f"MailConnector({self.transport!r}, {self.config.mailbox_access})"

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
            trouble = self.maildirs.check()
        except ConnectorError as exc:
            return Health(False, str(exc), (time.monotonic() - started) * 1000)
        elapsed = (time.monotonic() - started) * 1000
        if trouble:
            return Health(False, f"mail: Dovecot answers, but {trouble}", elapsed)
        return Health(True, "Dovecot answers", elapsed)

    # ------------------------------------------------------------------ read

    def read_location(self, key: AccountKey, location: str) -> Account | None:
        """The mailbox at `location`, if it exists."""
        return self.read_locations([(key, location)]).get(key)

    def read_locations(self, wanted: Sequence[tuple[AccountKey, str]]) -> dict[AccountKey, Account]:
        """The mailboxes among (key, location) pairs that exist (one request in all)."""
        for _, location in wanted:
            if not _valid_location(location):
                raise InvalidData(f"mail: {location!r} is not a mailbox location")
        found = self.maildirs.existing([location for _, location in wanted])
        return {
            key: Account(key, location, {"location": (location,)})
            for key, location in wanted
            if location in found
        }

    def read(self, key: AccountKey) -> Account | None:
        """The mailbox whose location ends with the key (<root>/*/<key>)."""
        if key.kind is not KeyKind.PERSON or not _LOCATION.fullmatch(key.id):
            return None
        location = self.maildirs.find(key.id.lower())
        if location is None:
            return None
        return Account(key, location, {"location": (location,)})

    def scan(self) -> Iterator[Account]:
        for location in self.maildirs.boxes():
            key = location.rsplit("/", 1)[-1]
            yield Account(AccountKey(key), location, {"location": (location,)})

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

    def used_bytes(self, user: str) -> int | None:
        """The size of every folder of `user`'s mailbox as Dovecot counts it (`mailbox
        status vsize`); None when the user is not valid, Dovecot is away or refuses."""
        if not _SAFE.fullmatch(user):
            return None
        status = Command("mailboxStatus", {"user": user, "field": ["vsize"], "mailboxMask": ["*"]})
        try:
            (reply,) = self._run([status])
        except ConnectorError:
            return None
        if reply.code or not isinstance(reply.output, list):
            return None
        return sum(int(row.get("vsize") or 0) for row in reply.output if isinstance(row, dict))

    # ------------------------------------------------------------------ apply

    def apply(self, ops: Sequence[Operation]) -> list[Result]:
        """Apply a batch: one result per operation, in order. Dovecot going away stops
        the batch (TargetUnavailable is raised: the caller retries everything, which is
        harmless); what Dovecot refuses for one operation is that operation's error."""
        items = [self._item(op) for op in ops]
        self._auth_phase([i for i in items if i.error is None])
        self._create([i for i in items if i.error is None and i.op.kind is OpKind.CREATE])
        for item in items:
            if item.error is None and item.op.kind is OpKind.DELETE:
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
        elif op.kind is OpKind.DELETE and not _KEY.fullmatch(op.target.id):
            item.fail(InvalidData(f"mail: {op.target.id!r} is not an account key"))  # archive name
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

    def _create(self, items: list[_Item]) -> None:
        """Check what Dovecot resolves for each new mailbox, then make them together."""
        making: list[tuple[_Item, Made]] = []
        for item in items:
            assert item.op.name is not None
            user, fields = item.user, item.fields
            if fields is None:
                item.fail(_unknown(f"create mailbox of {user}", "the lookup answered nothing"))
                continue
            home = os.path.join(self.config.mail_root, item.op.name)
            if os.path.normpath(fields.get("home", "")) != os.path.normpath(home):
                item.fail(
                    TargetMisconfigured(
                        f"mail: create mailbox of {user}: Dovecot resolves {user} to home "
                        f"{fields.get('home')!r}, the directory names {home!r}"
                    )
                )
                continue
            quota = item.op.attributes.get("quota", ())
            if quota:
                error = _quota_mismatch(user, int(quota[0]), fields.get("quota_rule", ""))
                if error is not None:
                    item.fail(error)
                    continue
            making.append((item, Made(item.op.name, user, fields)))
        self.maildirs.make([made for _, made in making])
        for item, made in making:
            if made.error is not None:
                item.fail(made.error)

    def _delete(self, item: _Item) -> None:
        assert item.op.name is not None
        location = item.op.name
        try:
            if not self.maildirs.present(location):
                item.name = None  # nothing left to archive (a retried delete)
                return
            archive = self.maildirs.archive(item.op.target.id.lower(), location)
            self.maildirs.remove(location)
        except (InvalidData, TargetMisconfigured) as exc:
            item.fail(exc)
            return
        item.name = archive


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
