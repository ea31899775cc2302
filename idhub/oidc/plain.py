"""One short read on a pooled DB-API connection: what the client-credentials exchange and
the sealed-token check ask of the database (one row), without SQLAlchemy's Session,
Connection and BEGIN around it.

Measured on SQLite: a SELECT of one row by key costs ~15 µs so, ~100 µs through a Core
Connection (whose BEGIN is a statement of its own) and ~160 µs through a Session; the
sealed token exists to make these exchanges cheap. The statement is still built with
SQLAlchemy (compiled once per dialect, its parameters bound as the dialect expects).
On SQLite the connection is in autocommit mode (idhub.db), so the one SELECT reads in a
snapshot of its own and takes no lock; on PostgreSQL the driver's implicit transaction
ends when the pool takes the connection back (a rollback). Values come back as the driver
gives them: `utc` and `json_list` read the two kinds that differ between the two.
"""

from __future__ import annotations

import datetime as dt
import json
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
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                cursor.execute(sql, args)
                row = cursor.fetchone()
            finally:
                cursor.close()
        finally:
            connection.close()  # back to the pool, which rolls back (ends a read on PostgreSQL)
        return dict(zip(names, row, strict=True)) if row is not None else None


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
