"""[database] url's query reaches libpq as it is: `sslmode` (and sslrootcert, sslcert,
sslkey) configure TLS to an external PostgreSQL (docs/deploy.md, step 2). The test
server speaks no TLS, so `require` is refused there and `disable` connects."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from idhub.db import Database
from tests.conftest import BACKENDS, PG_ADMIN_URL

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="PostgreSQL not tested")


def _join(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def test_sslmode_in_the_url_reaches_libpq() -> None:
    plain = Database(_join(PG_ADMIN_URL, "sslmode=disable"))
    try:
        with plain.engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        plain.dispose()
    required = Database(_join(PG_ADMIN_URL, "sslmode=require"))
    try:
        with pytest.raises(OperationalError, match="SSL"), required.engine.connect():
            pass
    finally:
        required.dispose()
