"""Logs are JSON lines with a request id, and never carry a secret, password or token."""

from __future__ import annotations

import io
import json
import logging

from idhub.logs import configure_logging, scrub
from tests.conftest import register_client


def test_no_secret_reaches_the_log(app, client):
    stream = io.StringIO()
    configure_logging("json", "DEBUG", stream=stream)
    try:
        reg = register_client(app, ["hr:write", "audit:read"])
        token_response = client.post(
            "/oauth/token?client_secret=" + reg.client_secret,  # a careless caller
            data={
                "grant_type": "client_credentials",
                "client_id": reg.client_id,
                "client_secret": reg.client_secret,
            },
        )
        token = token_response.json["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        client.get("/api/v1/people?access_token=" + token, headers=headers)
        client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(reg.client_id, "wrong-" + reg.client_secret),
        )
        logging.getLogger("idhub.test").warning(
            "an exception text carrying Authorization: Bearer %s and password=%s",
            token,
            "hunter2-xyz",
        )
        log_text = stream.getvalue()
    finally:
        configure_logging("json", "INFO")
    assert reg.client_secret not in log_text
    assert token not in log_text
    assert "hunter2-xyz" not in log_text
    lines = [json.loads(line) for line in log_text.splitlines()]
    access = [entry for entry in lines if entry["logger"] == "idhub.access"]
    assert access and all(entry.get("request_id") for entry in access)
    assert all("?" not in entry["msg"] for entry in access)


def test_request_id_is_echoed_or_made(api):
    made = api.get("/api/v1/people")
    assert len(made.headers["X-Request-Id"]) == 32
    given = api.get("/api/v1/people", headers={"X-Request-Id": "trace-abc-123"})
    assert given.headers["X-Request-Id"] == "trace-abc-123"
    unsafe = api.get("/api/v1/people", headers={"X-Request-Id": "<script> and spaces"})
    assert unsafe.headers["X-Request-Id"] != "<script> and spaces"


def test_request_id_reaches_audit(api):
    response = api.post(
        "/api/v1/positions",
        {"code": "VAN_THU", "name": "Văn thư"},
        headers={"X-Request-Id": "trace-audit-42"},
    )
    assert response.status_code == 201
    event = api.get("/api/v1/audit?request_id=trace-audit-42").json[0]
    assert event["action"] == "position.create"


def test_scrub_patterns():
    assert "s3cr3t" not in scrub('{"client_secret": "s3cr3t"}')
    assert "s3cr3t" not in scrub("password=s3cr3t&x=1")
    assert "abc.def" not in scrub("Authorization: Bearer abc.def")
    assert scrub("nothing secret here") == "nothing secret here"
