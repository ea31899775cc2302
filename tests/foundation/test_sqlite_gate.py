"""The SQLite write gate: held for exactly the span of a write transaction."""

from __future__ import annotations

import fcntl
import os

import pytest
from sqlalchemy import text

from idhub.db import Database


def gate_is_free(path: str) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path}/gate.db")
    with database.transaction() as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    yield database, f"{tmp_path}/gate.db-writers"
    database.dispose()


def test_held_while_writing_and_released_by_commit_rollback_and_a_dead_connection(db):
    database, gate = db
    with database.transaction() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        assert not gate_is_free(gate)
    assert gate_is_free(gate)

    with pytest.raises(RuntimeError), database.transaction() as session:
        session.execute(text("INSERT INTO t VALUES (2)"))
        raise RuntimeError
    assert gate_is_free(gate)

    session = database.session(write=True)
    session.execute(text("INSERT INTO t VALUES (3)"))
    session.connection().invalidate()  # the connection dies mid-transaction
    session.close()
    assert gate_is_free(gate)

    with database.reading() as session:  # readers never take it
        session.execute(text("SELECT x FROM t"))
        assert gate_is_free(gate)
        assert session.execute(text("SELECT count(*) FROM t")).scalar() == 1
