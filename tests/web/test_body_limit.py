"""A body over the limit is refused with 413 in the JSON error format, whether it comes with
a Content-Length or chunked (no length known up front)."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from idhub.ops.devstack.ports import free_port
from idhub.ops.server import gunicorn_argv
from idhub.web.settings import ServerSettings

LIMIT = 2 * 1024 * 1024
BIG = b'{"national_id": "' + b"1" * (5 * 1024 * 1024) + b'"}'


def _chunked(api, url: str, body: bytes):
    """As a server that decodes chunked transfer encoding hands it over (gunicorn does):
    no CONTENT_LENGTH, wsgi.input_terminated set."""
    return api.client.post(
        url,
        input_stream=io.BytesIO(body),
        headers={
            "Authorization": f"Bearer {api.token}",
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )


@pytest.mark.parametrize("url", ["/api/v1/people", "/api/v1/batches", "/oauth/token"])
def test_a_chunked_body_over_the_limit_is_413(api, url):
    response = _chunked(api, url, BIG)
    assert response.status_code == 413, response.data[:300]
    assert response.json["code"] == "request_too_large"
    assert api.get("/api/v1/people").json == []


def test_a_sized_body_over_the_limit_is_413(api):
    response = api.client.post(
        "/api/v1/people",
        data=BIG,
        headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json["code"] == "request_too_large"


def test_a_chunked_body_under_the_limit_is_read(api):
    body = b'{"national_id": "001090123456", "family_name": "L\xc3\xaa", "given_name": "An"}'
    assert _chunked(api, "/api/v1/people", body).status_code == 201


# -- Through gunicorn, as `make run` serves the hub ------------------------------------------
@pytest.fixture
def gunicorn_url(app, settings, tmp_path) -> Iterator[str]:
    """The hub under a real gunicorn on a free port, on the test's database and secrets."""
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "IDHUB_DATABASE_URL": settings["database"]["url"],
        "IDHUB_VAR_DIR": settings["var_dir"],
    }
    server = ServerSettings("127.0.0.1", port, 1, 0, f"http://127.0.0.1:{port}")
    argv = gunicorn_argv(server, bind=f"127.0.0.1:{port}", workers=1)
    log = (tmp_path / "gunicorn.log").open("wb")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:  # bounded wait until it answers
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert process.poll() is None, (tmp_path / "gunicorn.log").read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def _post(address: str, token: str, body: bytes, *, chunked: bool) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(address, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if chunked:
        pieces = (body[i : i + 65536] for i in range(0, len(body), 65536))
        connection.request("POST", "/api/v1/people", pieces, headers, encode_chunked=True)
    else:
        connection.request("POST", "/api/v1/people", body, headers)
    response = connection.getresponse()
    result = response.status, json.loads(response.read())
    connection.close()
    return result


def test_gunicorn_answers_413_chunked_or_not(api, gunicorn_url):
    for chunked in (True, False):
        status, body = _post(gunicorn_url, api.token, BIG, chunked=chunked)
        assert status == 413, (chunked, body)
        assert body["code"] == "request_too_large" and body["request_id"]
    good = b'{"national_id": "001090123456", "family_name": "L\xc3\xaa", "given_name": "An"}'
    status, body = _post(gunicorn_url, api.token, good, chunked=True)
    assert status == 201, body
    assert [p["national_id"] for p in api.get("/api/v1/people").json] == ["001090123456"]
