"""Waking idle workers when jobs are queued: LISTEN/NOTIFY on PostgreSQL.

`enqueue` sends a NOTIFY in the transaction that writes the jobs, so PostgreSQL delivers
it when (and only if) that transaction commits. An idle worker waits on its own LISTEN
connection instead of sleeping, and claims as soon as one arrives. The poll stays as the
fallback (a lost connection, a NOTIFY sent while the worker was busy): a wake-up is a
hint to claim now, never the only way work is found. On SQLite there is nothing to
listen on and the worker sleeps for the poll interval.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "idhub_jobs"
_SLICE_S = 0.25


def notify_queued(session: Session) -> None:
    """Tell idle workers that jobs are queued (delivered when this transaction commits)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))


class Wakeup:
    """Waits up to the poll interval, returning early when jobs are announced."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.listening = engine.dialect.name == "postgresql"
        self._conn: Any = None

    def _listener(self) -> Any:
        if self._conn is None:
            pooled = self.engine.raw_connection()
            pooled.detach()  # ours alone, outside the pool, for as long as it lives
            conn: Any = pooled.dbapi_connection
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self._conn = conn
        return self._conn

    def wait(self, timeout_s: float, stop: threading.Event) -> None:
        if stop.is_set():
            return
        if not self.listening:
            stop.wait(timeout_s)
            return
        try:
            conn = self._listener()
            deadline = time.monotonic() + timeout_s
            woken = False
            # In slices, so that a stop (SIGTERM) is seen within a quarter of a second.
            while not woken and not stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                for _ in conn.notifies(timeout=min(left, _SLICE_S), stop_after=1):
                    woken = True
            # several commits may have announced work: one claim covers them all
            for _ in conn.notifies(timeout=0):
                pass
        except Exception as exc:  # noqa: BLE001 - the poll still finds the work
            log.warning("job wake-ups lost (%s); polling until the next wait", exc)
            self.close()
            stop.wait(timeout_s)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already gone
                conn.close()
