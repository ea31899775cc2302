"""What the throwaway servers share: the at-exit registry of started ones, log tails,
config files, port checks and one-shot tool runs."""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self


class Stoppable(Protocol):
    def stop(self) -> None: ...


# Servers we started and not yet stopped: stopped at interpreter exit, so a failing test
# or an uncaught exception in `make run` leaves no orphan slapd, Postfix or Dovecot behind.
_RUNNING: weakref.WeakSet[Stoppable] = weakref.WeakSet()


def started(server: Stoppable) -> None:
    """Stop `server` at interpreter exit unless it is stopped before."""
    _RUNNING.add(server)


def stopped(server: Stoppable) -> None:
    _RUNNING.discard(server)


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()


class ServerProcess:
    """A throwaway server that is also a context manager: started on entry, stopped on exit."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a server's log, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def write_file(path: Path, text: str, mode: int) -> None:
    """Write a config file with `mode` from its first byte (it may hold a secret)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(path, mode)


def port_taken(host: str, port: int) -> str | None:
    """Why nothing of ours can listen on host:port, or None when it is free.

    Checked before a start: otherwise a readiness probe could reach another server on
    the port while ours quietly exits.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind((host, port))
        except OSError as exc:
            return f"cannot listen on {host}:{port}: {exc.strerror}"
    return None


def failure_of(argv: Sequence[str], timeout: float) -> str | None:
    """Run a tool to its end; its output when it failed, None when it succeeded."""
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode == 0:
        return None
    return (done.stdout + done.stderr).strip()


def children_of(pid: int, names: tuple[str, ...]) -> set[int]:
    """Pids of the live child processes of `pid` (from /proc) whose command line starts
    with one of `names` (any child when empty)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z":
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
            except OSError:
                continue
            if not names or command in names:
                found.add(int(entry.name))
    return found
