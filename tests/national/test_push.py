"""Exports pushed to the province's data-integration platform (a real HTTPS server here):
byte for byte with their digest and the hub's token, nothing lost while the platform is
away, a refusal retried then parked, and each delivery audited."""

from __future__ import annotations

import base64
import hashlib
import http.server
import socket
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from sqlalchemy import select

from idhub.engine.worker import Worker, WorkerSettings
from idhub.models import AuditEvent, NationalExport, ProvisioningJob
from idhub.national.push import PUSH_TARGET, NationalPushTarget, push_worker
from idhub.national.settings import NationalSettings
from tests.conftest import Api, register_client, token_for
from tests.fixtures.tls import make_pki

TOKEN = "platform-token-0123456789"


@dataclass
class Platform:
    """An HTTPS endpoint taking exports; `status` is what it answers."""

    port: int
    pki_ca: Path
    status: int = 202
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: http.server.HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/exports"

    def start(self, cert: Path, key: Path) -> None:
        platform = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                platform.received.append((dict(self.headers.items()), body))
                self.send_response(platform.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server = http.server.HTTPServer(("127.0.0.1", self.port), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def pki(tmp_path: Path):
    return make_pki(tmp_path / "pki")


@pytest.fixture
def platform(pki) -> Iterator[Platform]:
    found = Platform(_free_port(), pki.ca_file)
    yield found
    found.stop()


@pytest.fixture
def settings(settings, platform, tmp_path):
    token_file = tmp_path / "platform.token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    settings["national"].update(
        push_url=platform.url,
        push_token_file=str(token_file),
        push_ca_file=str(platform.pki_ca),
        push_timeout_s=2.0,
    )
    return settings


@pytest.fixture
def exchange(app, client) -> Api:
    registered = register_client(app, ["national:exchange"], name="Cổng dữ liệu tỉnh")
    return Api(client, token_for(client, registered))


def _export(app, exchange: Api) -> NationalExport:
    made = exchange.post("/api/v1/national/exports", {})
    assert made.status_code == 201, made.json
    with app.extensions["idhub"].db.reading() as session:
        row = session.get(NationalExport, uuid.UUID(made.json["id"]))
        assert row is not None
        session.expunge(row)
    return row


def _jobs(app) -> list[ProvisioningJob]:
    with app.extensions["idhub"].db.reading() as session:
        rows = list(
            session.scalars(select(ProvisioningJob).where(ProvisioningJob.target == PUSH_TARGET))
        )
        session.expunge_all()
    return rows


def _pushes(app, export_id: uuid.UUID) -> list[AuditEvent]:
    with app.extensions["idhub"].db.reading() as session:
        rows = list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "national.export.push",
                    AuditEvent.object_id == str(export_id),
                )
            )
        )
        session.expunge_all()
    return rows


def test_an_export_made_while_the_platform_is_away_arrives_when_it_is_back(
    app, exchange, platform, pki
):
    row = _export(app, exchange)
    worker = push_worker(app.extensions["idhub"])
    assert worker is not None
    worker.run_once()  # nobody listens: handed back, not counted, not parked
    (job,) = _jobs(app)
    assert job.state == "pending" and job.attempts == 0

    platform.start(pki.server_cert, pki.server_key)
    worker.target.connector.check()  # the probe sees it back
    for _ in range(5):
        if not worker.run_once():
            break
    (headers, body), *more = platform.received
    assert not more
    assert body == row.document.encode()
    assert headers["Content-Type"] == "application/jose"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["Idempotency-Key"] == str(row.id)
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert headers["Digest"] == f"sha-256={digest}"
    assert _jobs(app) == []
    listed = exchange.get("/api/v1/national/exports?format=jws").json
    assert listed[0]["pushed_at"] is not None and listed[0]["push_error"] is None
    (event,) = _pushes(app, row.id)
    assert event.after["sha256"] == row.sha256


def test_a_refusing_platform_is_retried_then_the_job_is_parked(app, exchange, platform, pki):
    platform.status = 503
    platform.start(pki.server_cert, pki.server_key)
    row = _export(app, exchange)
    worker = push_worker(app.extensions["idhub"])
    assert worker is not None
    max_attempts = worker.target.max_attempts
    for _ in range(max_attempts):
        worker.run_once()
        with app.extensions["idhub"].db.transaction() as session:  # the backoff, skipped
            for job in session.scalars(select(ProvisioningJob)):
                job.next_try_at = job.created_at
    (job,) = _jobs(app)
    assert job.state == "failed" and "HTTP 503" in (job.last_error or "")
    assert len(platform.received) == max_attempts
    assert _pushes(app, row.id) == []
    listed = exchange.get("/api/v1/national/exports").json
    assert listed[0]["pushed_at"] is None and listed[0]["push_error"] == "HTTP 503"


def test_a_platform_with_a_certificate_from_another_ca_gets_nothing(app, exchange, platform, pki):
    platform.start(pki.server_cert, pki.server_key)
    _export(app, exchange)
    hub = app.extensions["idhub"]
    conf = replace(hub.settings.section(NationalSettings), push_ca_file=str(pki.other_ca_file))
    worker = Worker(hub.db, hub.audit, NationalPushTarget(conf, 3), settings=WorkerSettings())
    worker.run_once()
    assert platform.received == []
    (job,) = _jobs(app)
    assert job.state == "pending"


def test_a_token_that_cannot_go_in_a_header_is_refused_at_start(app, settings, tmp_path):
    from idhub.config import ConfigError

    Path(settings["national"]["push_token_file"]).write_text("jeton-Đắk-Lắk", encoding="utf-8")
    with pytest.raises(ConfigError, match="ASCII"):
        push_worker(app.extensions["idhub"])


def test_push_urls_must_be_https(settings):
    from idhub.config import ConfigError, Settings
    from idhub.national.settings import NationalSettings

    settings["national"]["push_url"] = "http://127.0.0.1:9/exports"
    with pytest.raises(ConfigError, match="https"):
        Settings(settings).section(NationalSettings)
