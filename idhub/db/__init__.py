"""Database engine and sessions; one session per request or command, one transaction per change.

SQLite needs two adjustments to behave like a server database under concurrent writers:
foreign keys switched on, and write transactions started with BEGIN IMMEDIATE so two
writers queue on the lock instead of failing when one upgrades a read to a write
(the audit chain reads its last link before appending).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import ColumnElement, Engine, Table, any_, bindparam, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from idhub.db.sqlite_gate import WriteGate, sqlite_file

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class EncodedJSON(str):
    """A JSON column's value already encoded (the audit log encodes a snapshot once, for
    its seal and its column); the engine's serializer passes it through."""


def json_serializer(value: Any) -> str:
    return value if isinstance(value, EncodedJSON) else json.dumps(value)


class Database:
    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 10, max_overflow: int = 10
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine = create_engine(
                url,
                echo=echo,
                connect_args={"check_same_thread": False, "timeout": 30},
                json_serializer=json_serializer,
            )
            _configure_sqlite(self.engine)
        else:
            # Per process: a node's connections are (gunicorn workers + worker lanes) ×
            # (pool_size + max_overflow); keep that under the server's max_connections.
            self.engine = create_engine(
                url,
                echo=echo,
                pool_pre_ping=True,
                pool_size=pool_size,
                max_overflow=max_overflow,
                json_serializer=json_serializer,
            )
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE"), expire_on_commit=False
        )
        for maker in (self._read, self._write):
            event.listen(maker, "before_commit", _run_before_commit)
            event.listen(maker, "after_rollback", _drop_before_commit)

    def init_app(self, app: Flask) -> None:
        app.extensions["idhub.db"] = self

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool) -> Session:
        return self._write() if write else self._read()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction outside a request (CLI, worker): commit on success, else undo."""
        session = self._write()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite a deferred BEGIN, so it holds no write
        lock: several workers plan at once); anything written is undone."""
        session = self._read()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


_BEFORE_COMMIT = "idhub.before_commit"


def before_commit(session: Session, key: str, callback: Callable[[Session], None]) -> None:
    """Run `callback(session)` once, right before this session's transaction commits (the
    outbox writes a transaction's jobs so); one per key. If the transaction rolls back, the
    callback is forgotten, and so is whatever the caller kept in `session.info[key]`."""
    session.info.setdefault(_BEFORE_COMMIT, {})[key] = callback


def _run_before_commit(session: Session) -> None:
    callbacks = session.info.pop(_BEFORE_COMMIT, None)
    for callback in (callbacks or {}).values():
        callback(session)


def _drop_before_commit(session: Session) -> None:
    for key in session.info.pop(_BEFORE_COMMIT, None) or ():
        session.info.pop(key, None)


def among(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN values`, as `column = ANY(:array)` on PostgreSQL: one parameter, so the
    statement's text is the same for any number of values and the server plans it once
    (a 450-value IN list is planned afresh each time: ~3× slower here). SQLite has no
    arrays; its callers keep lists below its bound-parameter limit."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def table_of(model: Any) -> Table:
    """A mapped class's Table, typed as one (Core statements on it skip the ORM)."""
    return cast(Table, model.__table__)


def upsert(session: Session, table: Table) -> Any:
    """An INSERT that can take ON CONFLICT … DO UPDATE, in the session's dialect."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


SQLITE_CACHE_KIB = 32768  # per connection, at most


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred-only).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA busy_timeout = 30000")
        # SQLite's default page cache is 2 MiB: past a few thousand people, an HR batch's
        # inserts into the indexes whose keys are random (audit seals, usernames, search
        # names) missed it more the bigger the tables were, and a joiner cost more in a
        # big province (docs/benchmarks.md, flat cost). Taken only as pages are read.
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        cursor.close()

    path = sqlite_file(engine)
    gate = WriteGate(path + "-writers", timeout_s=30) if path else None
    if gate:
        gate.install(engine)

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        begin = conn.get_execution_options().get("sqlite_begin", "BEGIN")
        if gate is None or begin == "BEGIN":
            conn.exec_driver_sql(begin)
            return
        dbapi_connection = conn.connection.dbapi_connection
        gate.acquire(dbapi_connection)
        try:
            conn.exec_driver_sql(begin)
        except BaseException:
            gate.release(dbapi_connection)
            raise


def get_db() -> Database:
    return current_app.extensions["idhub.db"]


def db_session() -> Session:
    """The session of the current request: a write session for POST/PUT/PATCH/DELETE."""
    session = g.get("_db_session")
    if session is None:
        write = has_request_context() and request.method in WRITE_METHODS
        session = g._db_session = get_db().session(write=write)
    return session


def close_request_session(_exc: BaseException | None = None) -> None:
    session = g.pop("_db_session", None)
    if session is not None:
        session.rollback()
        session.close()
