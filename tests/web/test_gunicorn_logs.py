"""gunicorn's own error and access logs are the hub's JSON lines (idhub.logs through
gunicorn's logconfig_dict, idhub/ops/gunicorn_conf.py): the access line has the method,
path, status and request id, never the query string."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from idhub.ops.devstack.ports import free_port
from idhub.ops.server import gunicorn_argv
from idhub.web.settings import ServerSettings


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_gunicorn_writes_json_access_and_error_lines(app, settings, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "IDHUB_DATABASE_URL": settings["database"]["url"],
        "IDHUB_VAR_DIR": settings["var_dir"],
        "IDHUB_LOGGING_FORMAT": "json",
    }
    server = ServerSettings("127.0.0.1", port, 1, 0, f"http://127.0.0.1:{port}")
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            gunicorn_argv(server, bind=f"127.0.0.1:{port}", workers=1),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while True:  # bounded wait until it answers
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    assert process.poll() is None, log_path.read_text()
                    assert time.monotonic() < deadline, "gunicorn did not start"
                    time.sleep(0.1)
            url = f"http://127.0.0.1:{port}/api/v1/openapi.json?code=querysecret"
            with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310
                request_id = answer.headers["X-Request-Id"]
                assert answer.status == 200
        finally:
            process.terminate()
            process.wait(30)
    text = log_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # JSON, each
    access = [e for e in lines if e["logger"] == "gunicorn.access"]
    assert len(access) == 1, text
    assert access[0]["msg"] == "GET /api/v1/openapi.json 200"
    assert access[0]["status"] == 200 and access[0]["method"] == "GET"
    assert access[0]["request_id"] == request_id
    assert "querysecret" not in text
    assert any(e["logger"] == "gunicorn.error" and "Booting worker" in e["msg"] for e in lines)
