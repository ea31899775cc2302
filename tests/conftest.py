"""Shared fixtures: a real slapd for the session, and every app test on SQLite and PostgreSQL.

PostgreSQL: IDHUB_TEST_POSTGRES_URL (default: the local server with trust auth). A
throwaway database is created for the session and dropped at the end; tests start from
empty tables. SQLite: a migrated template file copied per test.
IDHUB_TEST_DATABASES=sqlite limits a run to SQLite (CI always runs both).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from idhub import create_app
from idhub.changes.chain import Actor
from idhub.config import load_settings
from idhub.models import Base
from idhub.oidc.clients import create_client
from idhub.oidc.settings import OAuthSettings
from idhub.ops.migrate import upgrade
from tests.fixtures.ldap import HUB_PASSWORD

# The real servers every test may ask for: slapd, and the Postfix + Dovecot stack.
pytest_plugins = ["tests.fixtures.ldap", "tests.fixtures.mail"]

PG_ADMIN_URL = os.environ.get(
    "IDHUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [
    b.strip() for b in os.environ.get("IDHUB_TEST_DATABASES", "sqlite,postgresql").split(",")
]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "idhub.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    name = f"idhub_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # TRUNCATE fires no row triggers, so the append-only guard on audit_event allows it.
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "idhub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def ldap_base(slapd_server) -> str:  # noqa: F811
    """A fresh subtree of the session slapd for one test: the hub's base DN in that test."""
    base = f"ou=t{uuid.uuid4().hex[:12]},{slapd_server.base_dn}"
    conn = slapd_server.connect()
    conn.add_s(base, [("objectClass", [b"organizationalUnit"]), ("ou", [base[3:16].encode()])])
    conn.unbind_s()
    return base


@pytest.fixture
def settings(tmp_path: Path, database_url: str, slapd_server, ldap_base) -> dict[str, Any]:  # noqa: F811
    return load_settings(
        overrides={
            "var_dir": str(tmp_path / "var"),
            "database": {"url": database_url},
            "ldap": {
                "url": slapd_server.url,
                "base_dn": ldap_base,
                "bind_dn": slapd_server.hub_dn,
                "password": HUB_PASSWORD,
            },
            "logging": {"format": "json", "level": "INFO"},
            "provisioning": {
                "guard_min_accounts": 10,
                "backoff_base_s": 0.05,
                "backoff_max_s": 0.5,
            },
        },
        environ={},
    )


@pytest.fixture
def app(settings: dict[str, Any]):
    application = create_app(settings)
    application.config["TESTING"] = True
    yield application
    application.extensions["idhub"].db.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@dataclass
class Registered:
    client_id: str
    client_secret: str


def register_client(app, scopes: list[str], name: str = "test client") -> Registered:
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        new = create_client(
            session,
            hub.keyring,
            hub.audit,
            Actor("cli", "pytest"),
            name=name,
            scopes=scopes,
            allowed_scopes=list(hub.settings.section(OAuthSettings).scopes),
        )
    return Registered(new.client_id, new.client_secret)


class Api:
    """A test client that carries a bearer token, for brevity in API tests."""

    def __init__(self, client, token: str) -> None:
        self.client = client
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(headers or {})}

    def get(self, url: str, **kw: Any):
        return self.client.get(url, headers=self._headers(kw.pop("headers", None)), **kw)

    def post(self, url: str, json: Any = None, **kw: Any):
        return self.client.post(
            url, json=json, headers=self._headers(kw.pop("headers", None)), **kw
        )

    def patch(self, url: str, json: Any = None, etag: str | None = None, **kw: Any):
        headers = kw.pop("headers", None) or {}
        if etag is not None:
            headers["If-Match"] = etag
        return self.client.patch(url, json=json, headers=self._headers(headers), **kw)

    def patch_fresh(self, url: str, json: Any):
        """PATCH with the ETag of a GET made just before."""
        return self.patch(url, json, etag=self.get(url).headers["ETag"])


def token_for(client, registered: Registered) -> str:
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(registered.client_id, registered.client_secret),
    )
    assert response.status_code == 200, response.json
    return response.json["access_token"]


@pytest.fixture
def api(app, client) -> Api:
    """Bearer-authenticated client with hr:write and audit:read."""
    registered = register_client(app, ["hr:write", "audit:read"], name="HR writer")
    return Api(client, token_for(client, registered))


@pytest.fixture
def reader(app, client) -> Api:
    registered = register_client(app, ["hr:read"], name="HR reader")
    return Api(client, token_for(client, registered))


@pytest.fixture
def admin(app, client) -> Api:
    registered = register_client(app, ["admin"], name="IT admin")
    return Api(client, token_for(client, registered))
