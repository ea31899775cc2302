"""The example apps follow the people through the hub's signed change events, with the
hub's events worker running: a joiner appears in the app, a mover moves, a leaver
disappears; an app that was down catches up with nothing lost and in order; an app that
refuses until the last attempt leaves a dead letter an admin can retry."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from idhub.changes.outbox import EVENTS_TARGET
from idhub.events.target import events_worker
from idhub.models import AuditEvent, ProvisioningJob
from idhub.ops.devstack.ports import free_port
from idhub.services import ProvisioningSettings
from tests.events.conftest import subscribe
from tests.fixtures.factories import make_assignment, make_position, make_unit
from tests.fixtures.sso import hr_person, register_app


def wait_until(what: str, done: Callable[[], bool], timeout: float = 30.0) -> None:
    """A bounded wait for the worker (no timing is asserted)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def end_post(api, person_id: str) -> None:
    posts = api.get(f"/api/v1/people/{person_id}/assignments").json
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    for post in posts:
        ended = api.post(
            f"/api/v1/assignments/{post['id']}/end", {"end_date": yesterday, "reason": "Nghỉ hưu"}
        )
        assert ended.status_code == 200, ended.json


def second_post(api, person: dict, name: str) -> dict:
    unit = make_unit(api, name=name, type="department", mail_domain="stc.laichau.gov.vn")
    make_assignment(api, person, unit, make_position(api), kind="concurrent")
    return unit


def queued(app) -> int:
    with app.extensions["idhub"].db.reading() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(ProvisioningJob)
                .where(ProvisioningJob.target == EVENTS_TARGET)
            )
            or 0
        )


def test_a_joiner_appears_a_mover_moves_a_leaver_disappears(app, api, documents, events_running):
    person = hr_person(api, family_name="Lò", middle_name="Văn", given_name="Hưng")
    wait_until("the joiner in the app", lambda: person["id"] in documents.users())
    user = documents.users()[person["id"]]
    assert user["username"] == person["username"] and user["name"] == "Lò Văn Hưng"
    assert user["roles"] == ["user"]  # the document app's roles only, prefix dropped
    assert user["unit"]["code"] == person["unit"]["code"]

    unit = second_post(api, person, "Sở Tài chính tỉnh Lai Châu")
    wait_until(
        "the move in the app",
        lambda: unit["code"] in documents.users().get(person["id"], {}).get("units", []),
    )
    end_post(api, person["id"])
    wait_until("the leaver gone from the app", lambda: person["id"] not in documents.users())
    wait_until("the queue empty", lambda: queued(app) == 0)


class Recorder:
    """An app's receiver on a fixed port: verifies, records every event in arrival order,
    answers `status` (up and down at will)."""

    def __init__(self, port: int, secret: str, status: int = 204) -> None:
        self.port, self.secret, self.status = port, secret, status
        self.events: list[dict] = []
        self.ids: list[str] = []
        self.server = None

    def up(self) -> None:
        self.server = make_server("127.0.0.1", self.port, self._app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @Request.application
    def _app(self, request: Request) -> Response:
        event = Webhook(self.secret).verify(request.get_data(), dict(request.headers))
        if self.status < 300:
            self.ids.append(request.headers["webhook-id"])
            self.events.append(event)
        return Response("", status=self.status)

    def users(self) -> dict[str, dict]:
        table: dict[str, dict] = {}
        for event in self.events:
            person = event["data"]["person"]
            if event["type"] == "leaver":
                table.pop(person["sub"], None)
            else:
                table[person["sub"]] = person
        return table


def run_rounds(app, until: Callable[[], bool], timeout: float = 30.0) -> None:
    """Fresh events workers (each a restart: nothing in memory) until `until()`."""
    hub = app.extensions["idhub"]
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the events never settled"
        worker = events_worker(hub)
        try:
            worker.run_once()
        finally:
            worker.close()
        time.sleep(0.05)


def test_an_app_down_catches_up_with_nothing_lost_and_in_order(app, api, admin, hub):
    """The app is down while people join, move and leave (a short outage stands in for
    60 s: the worker's backoff is the same code at any length); when it is back it gets
    the net events, each person's in order, and its user table is the hub's."""
    port = free_port("127.0.0.1")
    registered = register_app(app, name="Họp trực tuyến", client_id="meeting")
    secret = subscribe(admin, "meeting", f"http://127.0.0.1:{port}/events")["secret"]
    recorder = Recorder(port, secret)
    recorder.up()
    try:
        stays = hr_person(api, given_name="Bình")
        leaves = hr_person(api, given_name="Cường")
        run_rounds(app, lambda: queued(app) == 0)
        assert set(recorder.users()) == {stays["id"], leaves["id"]}
        recorder.down()

        joins = hr_person(api, given_name="Dung")
        joins_and_leaves = hr_person(api, given_name="Giang")
        unit = second_post(api, stays, "Sở Tài chính tỉnh Lai Châu")
        end_post(api, leaves["id"])
        end_post(api, joins_and_leaves["id"])
        for _ in range(3):  # the app is down: tried, kept
            worker = events_worker(app.extensions["idhub"])
            worker.run_once()
            worker.close()
            time.sleep(0.6)  # past the test settings' largest backoff (0.5 s)
        assert queued(app) > 0
        with app.extensions["idhub"].db.reading() as session:
            attempts = set(
                session.scalars(
                    select(ProvisioningJob.attempts).where(ProvisioningJob.target == EVENTS_TARGET)
                )
            )
        assert attempts == {0}  # the app being away costs the jobs no attempt (outage.py)
        before = len(recorder.events)

        recorder.up()
        run_rounds(app, lambda: queued(app) == 0)
        late = recorder.events[before:]
        told = sorted((e["type"], e["data"]["person"]["sub"]) for e in late)
        # The new unit's post brings its unit's groups too: a role change beside the move.
        assert told == sorted(
            [
                ("joiner", joins["id"]),
                ("mover", stays["id"]),
                ("role_change", stays["id"]),
                ("leaver", leaves["id"]),
            ]
        )  # Giang joined and left while the app was down: nothing to tell
        assert set(recorder.users()) == {stays["id"], joins["id"]}
        assert unit["code"] in recorder.users()[stays["id"]]["units"]
        by_person: dict[str, list[int]] = {}
        for event in recorder.events:
            by_person.setdefault(event["data"]["person"]["sub"], []).append(event["seq"])
        for seqs in by_person.values():  # in order, each once
            assert seqs == list(range(1, len(seqs) + 1))
        assert len(set(recorder.ids)) == len(recorder.ids)
    finally:
        recorder.down()
    assert registered.client_id == "meeting"


def test_an_app_that_refuses_leaves_a_dead_letter_an_admin_retries(app, api, admin, hub):
    port = free_port("127.0.0.1")
    register_app(app, name="Nhân sự", client_id="personnel")
    secret = subscribe(admin, "personnel", f"http://127.0.0.1:{port}/events", ["joiner"])["secret"]
    recorder = Recorder(port, secret, status=500)
    recorder.up()
    try:
        person = hr_person(api, given_name="Hà")
        run_rounds(app, lambda: queued(app) == 0)  # refused until the last attempt
        letters = admin.get("/api/v1/events/dead-letters").json
        assert [(d["client_id"], d["person_id"], d["type"]) for d in letters] == [
            ("personnel", person["id"], "joiner")
        ]
        settings = app.extensions["idhub"].settings.section(ProvisioningSettings)
        assert letters[0]["attempts"] == settings.max_attempts
        # Held: a later change does not send anything to that app for the person.
        second_post(api, person, "Sở Y tế tỉnh Lai Châu")
        run_rounds(app, lambda: queued(app) == 0)
        assert recorder.events == []

        recorder.status = 204  # the app is fixed
        retried = admin.post(f"/api/v1/events/dead-letters/{letters[0]['id']}/retry")
        assert retried.status_code == 200 and retried.json == {"retried": 1}
        run_rounds(app, lambda: queued(app) == 0)
        assert [e["type"] for e in recorder.events] == ["joiner"]
        # The net event now: a joiner with the post added meanwhile, still number 1.
        assert recorder.events[0]["seq"] == 1
        assert len(recorder.events[0]["data"]["person"]["units"]) == 2
        assert admin.get("/api/v1/events/dead-letters").json == []
    finally:
        recorder.down()
    with app.extensions["idhub"].db.reading() as session:
        actions = set(
            session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.action.in_(["client.events", "event.dead_letter", "event.retry"])
                )
            )
        )
    assert actions == {"client.events", "event.dead_letter", "event.retry"}
