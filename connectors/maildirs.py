"""Where the mail connector finds, makes, archives and removes Maildirs: two stores with
one shape.

* `RemoteMaildirs` (the default, `mailbox_access = "doveadm"`): everything through
  doveadm, so the hub needs no access to the mail host's disks, only doveadm's API and
  its credential. A mailbox is made by Dovecot itself (`mailbox status` of INBOX as the
  user: Dovecot creates the Maildir it would create on a first delivery, with its own
  uid); it is looked for, archived and removed with doveadm's `fs` commands on the
  mail host's paths, which need no userdb entry, so a mailbox is archived after its
  directory entry has gone. An archive is a copy of the mailbox's tree at
  `<archive_dir>/<key>-<UTC time>/` on the mail host (Dovecot's `fs copy` hard-links:
  Maildir files never change in place), finished by an empty `.complete` file; only then
  is the mailbox removed, files first, then folders from the deepest, INBOX's `cur` last.
* `LocalMaildirs` (`mailbox_access = "files"`): the worker runs where `mail_root` is
  mounted and lays out, lists and archives Maildirs itself, ~0.1 ms a mailbox instead of
  ~7 ms in Dovecot; an archive is a `<key>-<UTC time>.tar.gz` on the worker's host.

A mailbox is there when INBOX's `Maildir/cur` is: Dovecot's own test for a Maildir
(a `mailbox list` alone makes `Maildir` without it).
"""

from __future__ import annotations

import glob
import os
import shutil
import tarfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Protocol

from connectors.base import (
    ConnectorError,
    InvalidData,
    TargetMisconfigured,
    TargetUnavailable,
)
from connectors.doveadm import EX_TEMPFAIL, Command, Reply, Transport

__all__ = ["LocalMaildirs", "Made", "Maildirs", "RemoteMaildirs", "make_maildir"]

EX_NOTFOUND = 68  # doveadm fs: the path does not exist
FS_PATHS_PER_COMMAND = 100  # files one `fs delete` removes


@dataclass(eq=False)
class Made:
    """A mailbox to make: its location, Dovecot's user and userdb lookup; `error` once
    making it failed."""

    location: str
    user: str
    fields: dict[str, str]
    error: ConnectorError | None = None


class Maildirs(Protocol):
    """The mail store's side of the mail connector (see the module docstring)."""

    root: str

    def existing(self, locations: Sequence[str]) -> set[str]:
        """Which of `locations` hold a mailbox."""
        ...

    def boxes(self) -> Iterator[str]:
        """The location of every mailbox below the root (`<prefix>/<key>`)."""
        ...

    def find(self, key: str) -> str | None:
        """The location of the mailbox whose last part is `key`."""
        ...

    def make(self, items: Sequence[Made]) -> None:
        """Make the mailboxes (each item's `error` says how one failed)."""
        ...

    def present(self, location: str) -> bool:
        """Anything left at `location` (a half-removed mailbox counts)."""
        ...

    def archive(self, key: str, location: str) -> str | None:
        """Archive what is at `location` whole; the archive's name (None: nothing there)."""
        ...

    def remove(self, location: str) -> None:
        """Remove the mailbox at `location` (after `archive`)."""
        ...

    def check(self) -> str:
        """'' when the root is reachable, else why not."""
        ...


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


# ---------------------------------------------------------------------------- files


class LocalMaildirs:
    """Maildirs on a file system this process reaches (see the module docstring)."""

    def __init__(self, root: str, archive_dir: str) -> None:
        self.root = root
        self.archive_dir = archive_dir

    def _home(self, location: str) -> str:
        return os.path.join(self.root, location)

    def existing(self, locations: Sequence[str]) -> set[str]:
        return {loc for loc in locations if os.path.isdir(os.path.join(self._home(loc), "Maildir"))}

    def boxes(self) -> Iterator[str]:
        root = PurePosixPath(self.root)
        for maildir in sorted(_glob(self.root, "*/*/Maildir")):
            yield PurePosixPath(maildir).parent.relative_to(root).as_posix()

    def find(self, key: str) -> str | None:
        for parent in sorted(_glob(self.root, "*")):
            if os.path.isdir(os.path.join(parent, key, "Maildir")):
                return PurePosixPath(parent, key).relative_to(PurePosixPath(self.root)).as_posix()
        return None

    def make(self, items: Sequence[Made]) -> None:
        for item in items:
            try:
                uid, gid = int(item.fields["uid"]), int(item.fields["gid"])
            except (KeyError, ValueError) as exc:
                item.error = TargetMisconfigured(
                    f"mail: Dovecot names no uid/gid for {item.user}: {exc}"
                )
                continue
            try:
                make_maildir(self.root, item.location, uid, gid)
            except NotADirectoryError as exc:  # something else is where the mailbox goes
                item.error = InvalidData(f"mail: cannot make the Maildir of {item.user}: {exc}")
            except OSError as exc:  # e.g. no right to hand it to Dovecot's uid
                item.error = TargetMisconfigured(
                    f"mail: cannot make the Maildir of {item.user}: {exc}"
                )

    def present(self, location: str) -> bool:
        return os.path.lexists(self._home(location))

    def archive(self, key: str, location: str) -> str | None:
        """`<archive_dir>/<key>-<UTC time>.tar.gz`, written aside and renamed: a partial
        file never has the final name."""
        box = self._home(location)
        if not os.path.exists(box):
            return None
        try:
            os.makedirs(self.archive_dir, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise TargetMisconfigured(f"mail: cannot create {self.archive_dir}: {exc}") from exc
        final = os.path.join(self.archive_dir, f"{key}-{_stamp()}.tar.gz")
        partial = final + ".part"
        try:
            with tarfile.open(partial, "w:gz") as tar:
                tar.add(box, arcname=key)
            os.chmod(partial, 0o600)
            os.replace(partial, final)
        except OSError as exc:
            if os.path.exists(partial):
                os.unlink(partial)
            raise InvalidData(f"mail: cannot archive {box}: {exc}") from exc
        return final

    def remove(self, location: str) -> None:
        try:
            shutil.rmtree(self._home(location))
        except OSError as exc:
            raise InvalidData(f"mail: cannot remove {self._home(location)}: {exc}") from exc

    def check(self) -> str:
        return "" if os.path.isdir(self.root) else f"mail root {self.root} is not a folder"


def _glob(root: str, pattern: str) -> list[str]:
    return glob.glob(os.path.join(glob.escape(root), pattern))


def make_maildir(root: str, location: str, uid: int, gid: int) -> None:
    """Lay out `<root>/<location>/Maildir` (cur, new, tmp) as Dovecot would, each folder
    0700 and owned by uid:gid. The Maildir appears whole or not at all (made aside,
    renamed): its presence is what says the mailbox exists."""
    home = os.path.join(root, location)
    maildir = os.path.join(home, "Maildir")  # plain strings: thousands per round
    if os.path.isdir(maildir):
        return
    path = root
    for part in location.split("/"):
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


# ---------------------------------------------------------------------------- doveadm


def _fs(**params: object) -> dict[str, object]:
    return {"fsDriver": "posix", "fsArgs": "", **params}


class RemoteMaildirs:
    """Maildirs on the mail host, through doveadm (see the module docstring).

    Requests that run `fs` commands carry no mail command: a doveadm process that ran
    one as a user keeps that user's uid for the rest of the request."""

    def __init__(self, transport: Transport, root: str, archive_dir: str) -> None:
        self.transport = transport
        self.root = root.rstrip("/") or "/"
        self.archive_dir = archive_dir.rstrip("/")

    def _run(self, commands: Sequence[Command]) -> list[Reply]:
        return self.transport.run(commands) if commands else []

    def _path(self, *parts: str) -> str:
        return str(PurePosixPath(self.root, *parts))

    def _stats(self, paths: Sequence[str]) -> list[bool]:
        """Whether each path exists (one request)."""
        # A path that cannot be looked at (e.g. below a file) holds no mailbox either.
        replies = self._run([Command("fsStat", _fs(path=p)) for p in paths])
        return [reply.code == 0 for reply in replies]

    def _dirs(self, paths: Sequence[str]) -> list[list[str]]:
        """The sub-folders of each folder (one request; a missing folder has none)."""
        replies = self._run([Command("fsIterDirs", _fs(path=p)) for p in paths])
        return [_names(p, r) for p, r in zip(paths, replies, strict=True)]

    def existing(self, locations: Sequence[str]) -> set[str]:
        wanted = list(dict.fromkeys(locations))
        found = self._stats([self._path(loc, "Maildir", "cur") for loc in wanted])
        return {loc for loc, there in zip(wanted, found, strict=True) if there}

    def boxes(self) -> Iterator[str]:
        (prefixes,) = self._dirs([self.root])
        prefixes = sorted(prefixes)
        below = self._dirs([self._path(p) for p in prefixes])
        candidates = [f"{p}/{box}" for p, boxes in zip(prefixes, below, strict=True)
                      for box in sorted(boxes)]  # fmt: skip
        found = self.existing(candidates)
        yield from (c for c in candidates if c in found)

    def find(self, key: str) -> str | None:
        (prefixes,) = self._dirs([self.root])
        candidates = [f"{p}/{key}" for p in sorted(prefixes)]
        found = self.existing(candidates)
        return next((c for c in candidates if c in found), None)

    def make(self, items: Sequence[Made]) -> None:
        """INBOX's status as the user: Dovecot creates the Maildir, owned by the user's
        uid, as on a first delivery (idempotent: an existing one is only read)."""
        self._refuse_blocked(items)
        todo = [i for i in items if i.error is None]
        try:
            replies = self._send(todo)
        except TargetUnavailable:
            if len(todo) < 2:
                raise
            # No answer at all: the doveadm process may have died on one mailbox (Dovecot
            # ends it on some storage errors). Find which, so that one does not hold up
            # the rest; if Dovecot itself is away, the whole batch waits.
            replies = []
            for item in todo:
                try:
                    replies += self._send([item])
                except TargetUnavailable as exc:
                    self.check_answers()
                    replies.append(Reply(-1, None, f"its doveadm process ended: {exc}"))
        for item, reply in zip(todo, replies, strict=True):
            if reply.code == EX_TEMPFAIL:  # Dovecot answered: e.g. its userdb is away
                raise TargetUnavailable(f"mail: Dovecot is not answering: {reply.detail}")
            if reply.code:
                item.error = InvalidData(
                    f"mail: Dovecot could not make the mailbox of {item.user} ("
                    + (f"doveadm exit {reply.code}: " if reply.code > 0 else "")
                    + f"{reply.detail}; is {self._path(item.location)} free, and writable "
                    "by the mail uid? see Dovecot's log)"
                )

    def _send(self, items: Sequence[Made]) -> list[Reply]:
        return self._run(
            [
                Command(
                    "mailboxStatus", {"user": i.user, "field": ["guid"], "mailboxMask": ["INBOX"]}
                )
                for i in items
            ]
        )

    def _refuse_blocked(self, items: Sequence[Made]) -> None:
        """A file where a mailbox's folder goes is that mailbox's error (one request)."""
        steps: dict[Made, list[tuple[str, str]]] = {}
        for item in items:
            parts = [*item.location.split("/"), "Maildir"]
            steps[item] = [(self._path(*parts[:n]), parts[n]) for n in range(len(parts))]
        parents = list(dict.fromkeys(parent for pairs in steps.values() for parent, _ in pairs))
        replies = self._run([Command("fsIter", _fs(path=p)) for p in parents])
        files: dict[str, set[str]] = {}
        unlistable = set()  # e.g. a file: doveadm answers, but cannot list it (exit 75)
        for parent, reply in zip(parents, replies, strict=True):
            if reply.code in (0, EX_NOTFOUND):
                files[parent] = set(_names(parent, reply))
            else:
                unlistable.add(parent)
        for item, pairs in steps.items():
            blocked = next(
                (p if p in unlistable else f"{p}/{n}" for p, n in pairs
                 if p in unlistable or n in files[p]),
                None,
            )  # fmt: skip
            if blocked is not None:
                item.error = InvalidData(
                    f"mail: cannot make the Maildir of {item.user}: {blocked} is there and "
                    "is not a folder"
                )

    def check_answers(self) -> None:
        """Raise TargetUnavailable unless doveadm answers."""
        self._stats([self.root])

    def present(self, location: str) -> bool:
        (there,) = self._stats([self._path(location)])
        return there

    def _walk(self, top: str) -> tuple[list[str], list[str]]:
        """Every file and folder below `top` (relative paths), a request per level."""
        files: list[str] = []
        folders: list[str] = []
        level = [""]
        while level:
            paths = [self._path(top, rel) if rel else self._path(top) for rel in level]
            commands: list[Command] = []
            for p in paths:
                commands += [Command("fsIter", _fs(path=p)), Command("fsIterDirs", _fs(path=p))]
            replies = self._run(commands)
            below: list[str] = []
            for n, (rel, p) in enumerate(zip(level, paths, strict=True)):
                join = lambda name, rel=rel: f"{rel}/{name}" if rel else name  # noqa: E731
                files += [join(f) for f in _names(p, replies[2 * n])]
                below += [join(d) for d in _names(p, replies[2 * n + 1])]
            folders += below
            level = below
        return files, folders

    def archive(self, key: str, location: str) -> str | None:
        """Copy the tree to `<archive_dir>/<key>-<UTC time>/`, then write `.complete`:
        an archive without it was cut short (its mailbox is still there)."""
        if not self.present(location):
            return None
        files, _ = self._walk(location)
        target = f"{self.archive_dir}/{key}-{_stamp()}"
        copies = [
            Command(
                "fsCopy",
                _fs(sourcePath=self._path(location, f), destinationPath=f"{target}/{key}/{f}"),
            )
            for f in files
        ]
        copies.append(Command("fsPut", _fs(inputPath="/dev/null", path=f"{target}/.complete")))
        for reply in self._run(copies):
            if reply.code:
                raise InvalidData(
                    f"mail: cannot archive {location} into {target}: doveadm fs exit "
                    f"{reply.code}: {reply.detail} (is {self.archive_dir} on the mail host "
                    "writable by doveadm?)"
                )
        return target

    def remove(self, location: str) -> None:
        files, folders = self._walk(location)
        commands = [
            Command("fsDelete", _fs(path=[self._path(location, f) for f in chunk]))
            for chunk in _chunks(files, FS_PATHS_PER_COMMAND)
        ]
        # Folders from the deepest; INBOX's cur last of its level, so a removal cut
        # short still reads as a mailbox and is finished by the next round.
        inbox = "Maildir/cur"
        order = sorted(folders, key=lambda f: (-f.count("/"), f == inbox, f))
        commands += [Command("fsDelete", _fs(path=[self._path(location, f)])) for f in order]
        commands.append(Command("fsDelete", _fs(path=[self._path(location)])))
        for command, reply in zip(commands, self._run(commands), strict=True):
            if reply.code and reply.code != EX_NOTFOUND:
                raise InvalidData(
                    f"mail: cannot remove {command.params['path']}: doveadm fs exit "
                    f"{reply.code}: {reply.detail}"
                )

    def check(self) -> str:
        (there,) = self._stats([self.root])
        return "" if there else f"the mail host has no {self.root} (mail_root)"


# An `fs` command runs in the doveadm process itself: Dovecot being away shows at the
# transport (no answer), so a failing one (exit 75 for ENOTDIR, EACCES, ...) is about
# its path and fails only the operation it is for.
def _names(path: str, reply: Reply) -> list[str]:
    if reply.code == EX_NOTFOUND:
        return []
    if reply.code:
        raise InvalidData(f"mail: doveadm fs iter {path}: exit {reply.code}: {reply.detail}")
    return [row["path"] for row in reply.output or () if row.get("path")]


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
