"""Liveness and readiness, with reasons when something is not there."""

from __future__ import annotations

from idhub import create_app
from tests.fixtures.ldap import ADMIN_PASSWORD


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_when_all_is_up(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"]["database"]["ok"] is True
    assert response.json["checks"]["directory"]["ok"] is True


def test_readyz_names_the_directory_when_it_is_down(settings):
    settings["ldap"]["url"] = "ldap://127.0.0.1:1"  # nothing listens there
    settings["ldap"]["timeout_s"] = 1.0
    response = create_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    directory = response.json["checks"]["directory"]
    assert directory["ok"] is False and directory["detail"]
    assert ADMIN_PASSWORD not in response.get_data(as_text=True)


def test_readyz_names_an_unmigrated_database(settings, tmp_path):
    settings["database"]["url"] = f"sqlite:///{tmp_path}/empty.db"
    response = create_app(settings).test_client().get("/readyz")
    assert response.status_code == 503
    assert "migration" in response.json["checks"]["database"]["detail"]


def test_security_headers(client):
    response = client.get("/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert client.get("/api/v1/people").headers["Cache-Control"] == "no-store"
