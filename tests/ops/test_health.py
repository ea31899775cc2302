"""Liveness and readiness, with reasons when something is not there."""

from __future__ import annotations

import time

from idhub import create_app
from tests.conftest import register_client, token_for
from tests.fixtures.ldap import ADMIN_PASSWORD, make_slapd


def admin_headers(app, client) -> dict[str, str]:
    registered = register_client(app, ["admin"], name="monitoring")
    return {"Authorization": f"Bearer {token_for(client, registered)}"}


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_when_all_is_up(app, client):
    response = client.get("/readyz", headers=admin_headers(app, client))
    assert response.status_code == 200, response.json
    assert response.json["checks"]["database"]["ok"] is True
    assert response.json["checks"]["directory"]["ok"] is True


def test_readyz_tells_the_public_only_ready_or_not(client, settings):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready"}
    settings["ldap"]["url"] = "ldap://127.0.0.1:1"
    settings["ldap"]["timeout_s"] = 1.0
    down = create_app(settings).test_client().get("/readyz")
    assert down.status_code == 503
    assert down.json == {"status": "not ready"}  # no URL, bind DN nor error text
    text = down.get_data(as_text=True)
    assert settings["ldap"]["bind_dn"] not in text and "127.0.0.1:1" not in text


def test_readyz_details_need_the_admin_scope(app, client):
    registered = register_client(app, ["hr:read"], name="not an admin")
    headers = {"Authorization": f"Bearer {token_for(client, registered)}"}
    assert client.get("/readyz", headers=headers).json == {"status": "ready"}
    assert client.get("/readyz", headers={"Authorization": "Bearer nonsense"}).json == {
        "status": "ready"
    }


def test_readyz_names_the_directory_when_it_is_down(settings):
    settings["ldap"]["url"] = "ldap://127.0.0.1:1"  # nothing listens there
    settings["ldap"]["timeout_s"] = 1.0
    app = create_app(settings)
    client = app.test_client()
    response = client.get("/readyz", headers=admin_headers(app, client))
    assert response.status_code == 503
    directory = response.json["checks"]["directory"]
    assert directory["ok"] is False and directory["detail"]
    assert ADMIN_PASSWORD not in response.get_data(as_text=True)


def test_readyz_names_an_unmigrated_database(settings, tmp_path, caplog):
    settings["database"]["url"] = f"sqlite:///{tmp_path}/empty.db"
    response = create_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    # No token can be checked without the schema: the public answer; the reason is logged.
    assert response.json == {"status": "not ready"}
    assert "latest migration" in caplog.text


def test_readyz_results_are_cached_briefly(settings, tmp_path):
    """A flood of /readyz does not bind to the directory each time: the answer is kept a
    few seconds (seen here: a stopped slapd still reads as ready, then no longer)."""
    slapd = make_slapd(tmp_path / "slapd").start()
    try:
        settings["ldap"]["url"] = slapd.url
        settings["ldap"]["base_dn"] = slapd.base_dn
        settings["ldap"]["timeout_s"] = 1.0
        client = create_app(settings).test_client()
        assert client.get("/readyz").status_code == 200
    finally:
        slapd.stop()
    assert client.get("/readyz").status_code == 200  # from the cache: no bind
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code == 200:
        assert time.monotonic() < deadline, "the cached answer never expired"
        time.sleep(0.2)


def test_security_headers(client):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert client.get("/api/v1/people").headers["Cache-Control"] == "no-store"
