"""One short read on a DB-API connection: what the client-credentials exchange and
the sealed-token check ask of the database (one row), without SQLAlchemy's Session,
Connection and BEGIN around it.

Measured on SQLite: a SELECT of one row by key costs ~15 µs so, ~100 µs through a Core
Connection (whose BEGIN is a statement of its own) and ~160 µs through a Session; the
sealed token exists to make these exchanges cheap. On SQLite each thread keeps one
connection for these reads, detached from the pool; on PostgreSQL a read takes a pooled
connection (a held one would count against the server's connections). The statement
is still built with SQLAlchemy (compiled once per dialect, its parameters bound as the
dialect expects). On SQLite the connection is in autocommit mode (idhub.db), so the one
SELECT reads in a snapshot of its own and takes no lock; on PostgreSQL the driver's
implicit transaction ends when the pool takes the connection back (a rollback). Values
come back as the driver gives them: `utc` and `json_list` read the two kinds that
differ between the two.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import weakref
from typing import Any

from sqlalchemy import Engine, Select


class PlainRead:
    """A SELECT compiled per dialect, run on a raw pooled connection; its first row."""

    def __init__(self, statement: Select) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, Any, list[str]]] = {}

    def _for(self, engine: Engine) -> tuple[str, Any, list[str]]:
        name = engine.dialect.name
        found = self._compiled.get(name)
        if found is None:
            compiled = self.statement.compile(dialect=engine.dialect)
            names = [column[0] for column in compiled._result_columns]  # noqa: SLF001
            found = self._compiled[name] = (str(compiled), compiled, names)
        return found

    def first(self, engine: Engine, params: dict[str, Any]) -> dict[str, Any] | None:
        sql, compiled, names = self._for(engine)
        # The statement's bind names are the parameters' keys (no expanding or typed binds).
        args: Any = (
            tuple(params[key] for key in compiled.positiontup) if compiled.positional else params
        )
        if engine.dialect.name == "sqlite":
            cursor = _sqlite_reader(engine).cursor()
            try:
                cursor.execute(sql, args)
                row = cursor.fetchone()
            finally:
                cursor.close()
        else:
            connection = engine.raw_connection()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(sql, args)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            finally:
                connection.close()  # back to the pool, which rolls back (ends the read)
        return dict(zip(names, row, strict=True)) if row is not None else None


_readers = threading.local()


def _sqlite_reader(engine: Engine) -> Any:
    """This thread's SQLite connection for plain reads: taken from the engine's pool once
    (set up as every connection is: WAL, busy timeout, autocommit) and detached from it,
    so a read costs no checkout and no reset (~30 µs inside a request). It holds no lock
    between reads (autocommit: each SELECT its own snapshot). Per process and thread."""
    held: dict = _readers.__dict__.setdefault("by_engine", {})
    key = (id(engine.pool), os.getpid())
    connection = held.get(key)
    if connection is None:
        fairy = engine.raw_connection()
        fairy.detach()  # ours now: the pool neither counts nor resets it
        connection = held[key] = fairy
        weakref.finalize(engine.pool, _forget, held, key)
    return connection


def _forget(held: dict, key: tuple) -> None:
    connection = held.pop(key, None)
    if connection is not None:
        connection.close()


def utc(value: Any) -> dt.datetime | None:
    """A timestamp column's raw value as an aware UTC datetime (SQLite gives text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def json_list(value: Any) -> list:
    """A JSON column's raw value (SQLite gives text, PostgreSQL the decoded value)."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str | bytes) else list(value)
