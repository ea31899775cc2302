"""Schema migrations (Alembic), callable from the CLI, `make run` and the tests."""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

# Package data (an installed wheel carries the scripts and alembic.ini): a real folder.
MIGRATIONS_DIR = Path(str(importlib.resources.files("idhub") / "migrations"))


def alembic_config(engine: Engine) -> Config:
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(engine)
    with engine.connect() as conn, _foreign_keys_off(conn):
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.connect() as conn, _foreign_keys_off(conn):
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


@contextmanager
def _foreign_keys_off(conn: Connection) -> Iterator[None]:
    """SQLite alters a table by copying it into a new one and dropping the old: with
    foreign keys on, dropping a table others refer to (person) fails once it has rows.
    So they are off while migrating (set outside any transaction, as SQLite requires)
    and checked after. The personal data keys, which a migration that seals data needs,
    reach it through the engine's dialect (idhub.models.sealed.attach, done by Hub.db)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"the migration left broken foreign keys: {broken[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys = ON")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


@functools.cache
def _head_for(url: str) -> str | None:
    return ScriptDirectory.from_config(
        Config(str(MIGRATIONS_DIR / "alembic.ini"))
    ).get_current_head()


def is_current(engine: Engine) -> bool:
    """Cheap enough for a readiness probe: one SELECT, the head read from disk once."""
    head = _head_for(str(MIGRATIONS_DIR))
    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return False
    return current == head
