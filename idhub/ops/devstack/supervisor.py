"""`make run`'s supervisor: a process of the stack that dies is started again, with a
backoff, and the log says so; the rest keeps running meanwhile.

Each watched process has its own backoff (FIRST_DELAY_S, doubling up to MAX_DELAY_S, back
to the first once it has stayed up STABLE_S). One that dies more than MAX_RESTARTS times
within WINDOW_S is left down, and the log says so: a crash loop is a fault to read, not
to hide. Stopping the stack is the caller's (run.py): it stops checking, then stops all.
"""

from __future__ import annotations

import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "FIRST_DELAY_S",
    "MAX_DELAY_S",
    "MAX_RESTARTS",
    "WINDOW_S",
    "Child",
    "Server",
    "Supervisor",
]

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
STABLE_S = 60.0
MAX_RESTARTS = 5
WINDOW_S = 60.0


class Child:
    """A child process started from an argv and environment (gunicorn, the worker, an
    example app): started again the same way."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env)  # noqa: S603 - our own argv

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def how_it_ended(self) -> str:
        code = None if self.proc is None else self.proc.returncode
        return f"exited with status {code}"

    def terminate(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()

    def wait(self, timeout: float) -> None:
        """Wait for a terminated child; killed if it takes longer than `timeout`."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class Server:
    """A throwaway server with its own start (slapd, Dovecot, Postfix): started again
    through it, so its checks (stale pid file, port, readiness) run again too."""

    def __init__(
        self,
        name: str,
        alive: Callable[[], bool],
        start: Callable[[], object],
        pid: Callable[[], int | None] = lambda: None,
    ) -> None:
        self.name = name
        self._alive = alive
        self._start = start
        self._pid = pid

    def start(self) -> None:
        self._start()

    def alive(self) -> bool:
        return self._alive()

    @property
    def pid(self) -> int | None:
        return self._pid()

    def how_it_ended(self) -> str:
        return "stopped running"


Watched = Child | Server


@dataclass
class _Watch:
    what: Watched
    delay: float = field(default_factory=lambda: FIRST_DELAY_S)
    up_since: float = field(default_factory=time.monotonic)
    down_since: float | None = None
    next_try: float = 0.0
    restarts: deque[float] = field(default_factory=deque)
    given_up: bool = False


class Supervisor:
    """Checks every watched process, each time `check` is called, and restarts the dead."""

    def __init__(
        self, say: Callable[[str], None], stopping: Callable[[], bool] = lambda: False
    ) -> None:
        self._say = say
        # Ctrl-C reaches the children too: one that dies of it while the stack stops is
        # not started again.
        self._stopping = stopping
        self._watches: list[_Watch] = []

    def watch(self, what: Watched) -> None:
        """Watch a process that is running now."""
        self._watches.append(_Watch(what))

    def check(self) -> None:
        now = time.monotonic()
        for w in self._watches:
            if w.given_up or self._stopping():
                continue
            if w.what.alive():
                if w.down_since is None and now - w.up_since >= STABLE_S:
                    w.delay = FIRST_DELAY_S  # stayed up: the next death starts afresh
                continue
            if w.down_since is None:
                self._went_down(w, now)
            if not w.given_up and now >= w.next_try:
                self._restart(w, time.monotonic())

    def _went_down(self, w: _Watch, now: float) -> None:
        w.down_since = now
        w.next_try = now + w.delay
        if _recent(w, now) >= MAX_RESTARTS:
            w.given_up = True
            self._say(
                f"{w.what.name} {w.what.how_it_ended()}; it died {len(w.restarts)} times "
                f"within {WINDOW_S:.0f} s, so it is left down (the rest keeps running; "
                "see its log, then restart the stack)"
            )
            return
        self._say(f"{w.what.name} {w.what.how_it_ended()}; restarting it in {w.delay:.1f} s")

    def _restart(self, w: _Watch, now: float) -> None:
        w.restarts.append(now)
        w.delay = min(MAX_DELAY_S, w.delay * 2)
        try:
            w.what.start()
        except Exception as exc:  # noqa: BLE001 - a failed start is retried like a death
            w.next_try = time.monotonic() + w.delay
            if _recent(w, now) >= MAX_RESTARTS:
                w.given_up = True
                self._say(
                    f"{w.what.name} did not start again: {exc}; it is left down after "
                    f"{len(w.restarts)} tries within {WINDOW_S:.0f} s (the rest keeps running)"
                )
            else:
                self._say(f"{w.what.name} did not start again: {exc}; next try in {w.delay:.1f} s")
            return
        w.down_since = None
        w.up_since = time.monotonic()
        pid = w.what.pid
        self._say(f"{w.what.name} restarted" + (f" (pid {pid})" if pid else ""))


def _recent(w: _Watch, now: float) -> int:
    """Restarts within the last WINDOW_S."""
    while w.restarts and now - w.restarts[0] > WINDOW_S:
        w.restarts.popleft()
    return len(w.restarts)
