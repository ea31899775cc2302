"""Back-channel logout through the outbox (issue 17, weakness 12): an app that does not
answer is tried again, with backoff, until it does; a worker restart loses nothing; an
app that answered is told once."""

from __future__ import annotations

import threading
import time
import uuid

import requests
from joserfc import jwt
from sqlalchemy import func, select
from werkzeug.serving import make_server

from idhub.changes.chain import Actor
from idhub.models import BackchannelNotice, ProvisioningJob
from idhub.oidc.backchannel import BACKCHANNEL_TARGET
from idhub.oidc.logout import LogoutSettings, decode_logout_token, end_access
from idhub.ops.backchannel import backchannel_worker
from idhub.ops.devstack.ports import free_port
from tests.fixtures.sso import Receiver, code_flow, jwks_of, register_app


class FlakyReceiver(Receiver):
    """An app whose back-channel endpoint answers 503 the first `failures` times."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        super().__init__()

    def _app(self, environ, start_response):  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.attempts <= self.failures:
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"busy"]
        return super()._app(environ, start_response)


def end_sessions(app, person_id: str) -> None:
    hub = app.extensions["idhub"]
    end_access(
        hub.db,
        hub.audit,
        hub.keyring,
        LogoutSettings.from_settings(hub.settings),
        Actor("cli", "pytest"),
        [uuid.UUID(person_id)],
        reason="signed out",
    )


def deliver_until(app, done, timeout: float = 30.0) -> int:
    """Run fresh logout workers (each a restart: a new process, nothing in memory) until
    `done()`; the rounds it took."""
    hub = app.extensions["idhub"]
    deadline, rounds = time.monotonic() + timeout, 0
    while not done():
        assert time.monotonic() < deadline, "the logout never arrived"
        worker = backchannel_worker(hub.db, hub.audit, hub.keyring, hub.settings)
        try:
            rounds += worker.run_once()
        finally:
            worker.close()
        time.sleep(0.05)
    return rounds


def left_over(app) -> tuple[int, int]:
    with app.extensions["idhub"].db.reading() as session:
        notices = session.scalar(select(func.count()).select_from(BackchannelNotice))
        jobs = session.scalar(
            select(func.count())
            .select_from(ProvisioningJob)
            .where(ProvisioningJob.target == BACKCHANNEL_TARGET)
        )
    return notices or 0, jobs or 0


def test_a_failed_logout_is_retried_until_the_app_answers(app, hub, browser, person):
    """The app answers 503 three times, then 200: the logout arrives once; the other app
    of the session, which answered at once, is not told again on the retries."""
    flaky, steady = FlakyReceiver(failures=3), Receiver()
    try:
        first = register_app(app, backchannel_logout_uri=flaky.url)
        second = register_app(app, name="Họp trực tuyến", backchannel_logout_uri=steady.url)
        _rp, token, _ = code_flow(hub, browser, first)
        code_flow(hub, browser, second, nonce="n-2")
        end_sessions(app, person["id"])

        deliver_until(app, lambda: left_over(app) == (0, 0))  # delivered and recorded
        assert flaky.attempts == 4 and len(flaky.tokens) == 1
        assert len(steady.tokens) == 1  # told once, not on every retry
        keyset = requests.get(hub + "/oauth/jwks").json()
        claims = decode_logout_token(flaky.tokens[0], keyset)
        sid = jwt.decode(token["id_token"], jwks_of(hub)).claims["sid"]
        assert claims["aud"] == first.client_id and claims["sid"] == sid
        assert claims["sub"] == person["id"]
    finally:
        flaky.stop()
        steady.stop()


def test_an_app_down_at_logout_gets_it_once_it_is_up(app, hub, browser, person):
    """Nothing listens at the app's address when the session ends (connection refused);
    the app comes up later and the logout arrives then."""
    port = free_port("127.0.0.1")
    registered = register_app(app, backchannel_logout_uri=f"http://127.0.0.1:{port}/backchannel")
    code_flow(hub, browser, registered)
    end_sessions(app, person["id"])
    hub_ = app.extensions["idhub"]
    for _ in range(2):  # the app is down: tried, kept
        worker = backchannel_worker(hub_.db, hub_.audit, hub_.keyring, hub_.settings)
        worker.run_once()
        worker.close()
        time.sleep(0.6)  # past the test settings' largest backoff (0.5 s)
    assert left_over(app) == (1, 1)
    receiver = Receiver()
    receiver.server.shutdown()
    receiver.server.server_close()
    receiver.server = make_server("127.0.0.1", port, receiver._app, threaded=True)
    receiver.thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    receiver.thread.start()
    try:
        deliver_until(app, lambda: left_over(app) == (0, 0))
        assert len(receiver.tokens) == 1
    finally:
        receiver.stop()
