"""Writers of one SQLite file queue on a lock file as well as on SQLite's own lock.

SQLite's busy handler waits for the write lock by sleeping in growing steps (1, 2, 5, …
up to 100 ms), so a writer queued behind a 150 ms HR batch wakes tens of milliseconds
after the lock came free, and the API and the workers spend that time idle. Here every
write transaction first takes an exclusive flock on `<database>-writers`, polled every
half millisecond, and lets go right after its COMMIT or ROLLBACK, so the next writer
starts as soon as the last one finished. The SQLite lock stays the guard of the data:
a writer that gives up on the gate (after the busy timeout, e.g. behind a connection
that died holding it) or a process that knows nothing of it still waits there.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from typing import Any

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

_POLL_S = 0.0005


class WriteGate:
    def __init__(self, path: str, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._held: dict[int, int] = {}  # id(DBAPI connection) → lock file descriptor

    def acquire(self, dbapi_connection: Any) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            if time.monotonic() > deadline:
                os.close(fd)
                log.warning(
                    "write gate %s still held after %.0f s; waiting on SQLite alone",
                    self.path,
                    self.timeout_s,
                )
                return
            time.sleep(_POLL_S)
        self._held[_key(dbapi_connection)] = fd

    def release(self, dbapi_connection: Any) -> None:
        fd = self._held.pop(_key(dbapi_connection), None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops its flock

    def install(self, engine: Engine) -> None:
        """Release after the DBAPI commit / rollback (SQLAlchemy's own commit and rollback
        events fire before them), and when the pool drops a connection."""
        dialect = engine.dialect
        plain_commit, plain_rollback = dialect.do_commit, dialect.do_rollback

        def do_commit(dbapi_connection: Any) -> None:
            try:
                plain_commit(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        def do_rollback(dbapi_connection: Any) -> None:
            try:
                plain_rollback(dbapi_connection)
            finally:
                self.release(dbapi_connection)

        dialect.do_commit = do_commit  # type: ignore[method-assign]
        dialect.do_rollback = do_rollback  # type: ignore[method-assign]
        for name in ("close", "invalidate", "close_detached"):
            event.listen(engine, name, lambda conn, *_: self.release(conn))


def _key(connection: Any) -> int:
    """The raw DBAPI connection's id: the dialect is handed the pool's proxy of it."""
    return id(getattr(connection, "dbapi_connection", connection))


def sqlite_file(engine: Engine) -> str | None:
    """The database file, or None for an in-memory database."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return os.path.abspath(database)
