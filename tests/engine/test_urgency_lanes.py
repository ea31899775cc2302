"""Urgency lanes: cutting access overtakes bulk work, on the directory and on the mail server.

The backlog tests run the real `idhub worker` in a process of its own, as production
does, against real slapd (and Postfix + Dovecot), so they hold whatever lanes the command
runs. Their waits are bounded polls, not timings: the leaver must be cut off while most
of the backlog is still waiting.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import ldap
import pytest
from sqlalchemy import func, select

from idhub.changes.outbox import converge_later, enqueue
from idhub.engine.jobs import JobQueue, Lane
from idhub.engine.worker import WorkerSettings
from idhub.models import JobState, ProvisioningJob, Urgency
from tests.fixtures.factories import (
    joiner_items,
    lai_chau,
    make_assignment,
    make_person,
)
from tests.fixtures.mail import can_login, drain_all, enable_mail, imap_login, set_password
from tests.fixtures.provisioning import directory, drain, entry, wait_for

TODAY = dt.date.today()
YESTERDAY = (TODAY - dt.timedelta(days=1)).isoformat()
PASSWORD = "Mật-khẩu-công-vụ-2026"
CUT_OFF_WITHIN_S = 10.0  # generous: the goal is well under a second


# --------------------------------------------------------------------------- helpers


def _jobs(app, target: str, state: JobState = JobState.PENDING) -> int:
    with app.extensions["idhub"].db.reading() as session:
        query = select(func.count()).where(
            ProvisioningJob.target == target, ProvisioningJob.state == state
        )
        return session.scalar(query) or 0


def _urgency(app, subject_id: uuid.UUID, target: str = "ldap") -> int:
    with app.extensions["idhub"].db.reading() as session:
        urgency = session.scalar(
            select(ProvisioningJob.urgency).where(
                ProvisioningJob.subject_id == subject_id, ProvisioningJob.target == target
            )
        )
    assert urgency is not None
    return urgency


def _joiners(api, org, count: int, *, id_prefix: str) -> None:
    """`count` joiners through the HR batch API, at most 2,000 per batch."""
    for start in range(0, count, 2000):
        items = joiner_items(
            org["dept"], org["specialist"], min(2000, count - start), start=start,
            id_prefix=id_prefix,
        )  # fmt: skip
        response = api.post("/api/v1/batches", {"items": items, "reason": "QĐ 7/QĐ-UBND"})
        assert response.status_code == 200, response.json


def _end_post(api, post: dict) -> None:
    response = api.post(
        f"/api/v1/assignments/{post['id']}/end", {"end_date": YESTERDAY, "reason": "Nghỉ việc"}
    )
    assert response.status_code == 200, response.json


@contextmanager
def idhub_worker(settings: dict, *, mail: dict | None = None) -> Iterator[subprocess.Popen]:
    """`idhub worker` in a process of its own, with the test's settings."""
    ldap_settings = settings["ldap"]
    env = {
        **os.environ,
        "IDHUB_VAR_DIR": settings["var_dir"],
        "IDHUB_DATABASE_URL": settings["database"]["url"],
        "IDHUB_LDAP_URL": ldap_settings["url"],
        "IDHUB_LDAP_BASE_DN": ldap_settings["base_dn"],
        "IDHUB_LDAP_BIND_DN": ldap_settings["bind_dn"],
        "IDHUB_LDAP_PASSWORD": ldap_settings["password"],
        "IDHUB_LOGGING_LEVEL": "WARNING",
    }
    if mail is not None:
        env |= {
            "IDHUB_MAIL_ENABLED": "true",
            "IDHUB_MAIL_DOVEADM_CONFIG": mail["doveadm_config"],
            "IDHUB_MAIL_MAIL_ROOT": mail["mail_root"],
            "IDHUB_MAIL_ARCHIVE_DIR": mail["archive_dir"],
            "IDHUB_MAIL_DOVEADM_URL": mail["doveadm_url"],  # the test stack's doveadm API
            "IDHUB_MAIL_DOVEADM_CA_FILE": mail["doveadm_ca_file"],
            "IDHUB_MAIL_DOVEADM_PASSWORD": mail["doveadm_password"],
        }
    process = subprocess.Popen([sys.executable, "-m", "idhub.cli", "worker"], env=env)
    try:
        yield process
    finally:
        # SIGKILL, not SIGTERM: the backlog's round in progress need not finish.
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)


def _can_bind(app, dn: str, password: str) -> bool:
    conn = ldap.initialize(app.extensions["idhub"].connectors.ldap_config.url)
    try:
        conn.simple_bind_s(dn, password)
        return True
    except ldap.INVALID_CREDENTIALS:
        return False
    finally:
        conn.unbind_s()


def _set_ldap_password(app, dn: str, password: str) -> None:
    from argon2 import PasswordHasher

    conn = directory(app)
    try:
        hashed = "{ARGON2}" + PasswordHasher().hash(password)
        conn.modify_s(dn, [(ldap.MOD_REPLACE, "userPassword", [hashed.encode()])])
    finally:
        conn.unbind_s()


# ------------------------------------------------------------------ the queue itself


def test_a_coalesced_job_keeps_the_higher_urgency(app):
    db = app.extensions["idhub"].db
    leaver, joiner, both = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with db.transaction() as session:
        enqueue(session, [leaver], "the last post ended", urgent=True)
        enqueue(session, [joiner], "person created")
    with db.transaction() as session:  # later bulk changes: the leaver stays urgent
        enqueue(session, [leaver, joiner], "quota changed")
    with db.transaction() as session:  # converge_later: within one transaction too
        converge_later(session, [both], "person disabled", None, urgent=True)
        converge_later(session, [both], "person changed", None)
    assert _urgency(app, leaver) == Urgency.URGENT
    assert _urgency(app, joiner) == Urgency.BULK
    assert _urgency(app, both) == Urgency.URGENT
    with db.transaction() as session:  # a bulk job becomes urgent when a cut coalesces in
        enqueue(session, [joiner], "the last post ended", urgent=True)
    assert _urgency(app, joiner) == Urgency.URGENT
    with db.reading() as session:
        coalesced, reason = session.execute(
            select(ProvisioningJob.coalesced, ProvisioningJob.reason).where(
                ProvisioningJob.subject_id == leaver
            )
        ).one()
    assert coalesced == 2 and reason == "quota changed"


def test_claims_take_urgent_jobs_first_and_each_lane_its_own(app):
    db = app.extensions["idhub"].db
    bulk = [uuid.uuid4() for _ in range(5)]
    urgent = [uuid.uuid4() for _ in range(2)]
    with db.transaction() as session:
        enqueue(session, bulk, "person created")
    with db.transaction() as session:  # queued last, claimed first
        enqueue(session, urgent, "the last post ended", urgent=True)

    def queue(lane: Lane, batch_size: int) -> JobQueue:
        return JobQueue(db, "ldap", f"w-{lane}", WorkerSettings(batch_size=batch_size), lane)

    assert {j.subject_id for j in queue(Lane.BULK, 3).claim()} <= set(bulk)
    assert {j.subject_id for j in queue(Lane.URGENT, 10).claim()} == set(urgent)
    assert queue(Lane.URGENT, 10).claim() == []  # nothing urgent left
    rest = queue(Lane.ALL, 10).claim()
    assert len(rest) == 2 and {j.subject_id for j in rest} <= set(bulk)


def test_all_lane_claims_urgent_before_older_bulk_jobs(app):
    db = app.extensions["idhub"].db
    bulk = [uuid.uuid4() for _ in range(5)]
    leaver = uuid.uuid4()
    with db.transaction() as session:
        enqueue(session, bulk, "person created")
    with db.transaction() as session:
        enqueue(session, [leaver], "the last post ended", urgent=True)
    first = JobQueue(db, "ldap", "w", WorkerSettings(batch_size=1)).claim()
    assert [j.subject_id for j in first] == [leaver] and first[0].urgent


# ------------------------------------------------- which HR changes are urgent


def test_access_cutting_hr_changes_are_urgent_and_the_rest_bulk(app, api):
    org = lai_chau(api)
    joiner = make_person(api, national_id="001090000101")
    make_assignment(api, joiner, org["dept"], org["specialist"])
    leaver = make_person(api, national_id="001090000102", given_name="Bình")
    leaver_post = make_assignment(api, leaver, org["dept"], org["specialist"])
    later = make_person(api, national_id="001090000103", given_name="Cúc")
    later_post = make_assignment(api, later, org["dept"], org["specialist"])
    mover = make_person(api, national_id="001090000104", given_name="Dũng")
    mover_post = make_assignment(api, mover, org["dept"], org["specialist"])
    suspended = make_person(api, national_id="001090000105", given_name="Hà")
    make_assignment(api, suspended, org["dept"], org["specialist"])
    drain(app)

    _end_post(api, leaver_post)  # no post left today: a leaver
    api.post(  # ends next month: nothing is cut today
        f"/api/v1/assignments/{later_post['id']}/end",
        {"end_date": (TODAY + dt.timedelta(days=30)).isoformat()},
    )
    response = api.post(  # a transfer in one batch: the old post ends, a new one starts
        "/api/v1/batches",
        {
            "items": [
                {"op": "end_assignment", "id": mover_post["id"], "data": {"end_date": YESTERDAY}},
                {
                    "op": "create_assignment",
                    "data": {
                        "person_id": mover["id"],
                        "unit_id": org["root"]["id"],
                        "position_id": org["specialist"]["id"],
                        "kind": "primary",
                        "start_date": TODAY.isoformat(),
                    },
                },
            ]
        },
    )
    assert response.status_code == 200, response.json
    api.patch_fresh(f"/api/v1/people/{suspended['id']}", {"status": "suspended"})

    jobs = {j["subject_id"]: j for j in api.get("/api/v1/jobs").json}
    assert jobs[leaver["id"]]["urgent"] is True
    assert jobs[suspended["id"]]["urgent"] is True
    assert jobs[later["id"]]["urgent"] is False
    assert jobs[mover["id"]]["urgent"] is False
    assert joiner["id"] not in jobs
    newcomer = make_person(api, national_id="001090000106", given_name="Khoa")
    make_assignment(api, newcomer, org["dept"], org["specialist"])
    assert api.get(f"/api/v1/jobs?subject_id={newcomer['id']}").json[0]["urgent"] is False


def test_the_daily_sweep_queues_leavers_urgent_and_joiners_bulk(app, api):
    from idhub.scheduler.sweep import sweep

    org = lai_chau(api)
    leaver = make_person(api, national_id="001090000201")
    make_assignment(
        api, leaver, org["dept"], org["specialist"], start_date="2025-01-01", end_date=YESTERDAY
    )
    starter = make_person(api, national_id="001090000202", given_name="Bình")
    make_assignment(api, starter, org["dept"], org["specialist"], start_date=TODAY.isoformat())
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        session.execute(ProvisioningJob.__table__.delete())
        sweep(session, hub.rules, TODAY)
    assert _urgency(app, uuid.UUID(leaver["id"])) == Urgency.URGENT
    assert _urgency(app, uuid.UUID(starter["id"])) == Urgency.BULK


# --------------------------------------------------- a leaver behind a backlog


def test_a_leaver_is_cut_off_the_directory_before_a_backlog_of_joiners(app, api, settings):
    org = lai_chau(api)
    leaver = make_person(api)
    post = make_assignment(api, leaver, org["dept"], org["specialist"])
    drain(app)
    dn, _ = entry(app, leaver["id"])
    _set_ldap_password(app, dn, PASSWORD)
    assert _can_bind(app, dn, PASSWORD)
    _joiners(api, org, 3000, id_prefix="0120")
    backlog = _jobs(app, "ldap")
    assert backlog >= 3000

    with idhub_worker(settings):
        # the bulk work is under way (the worker started and claimed its first rounds)
        wait_for(lambda: _jobs(app, "ldap") < backlog, timeout=60, interval=0.02)
        _end_post(api, post)  # queued after the backlog
        wait_for(lambda: not _can_bind(app, dn, PASSWORD), timeout=CUT_OFF_WITHIN_S)
        still_waiting = _jobs(app, "ldap")
    assert entry(app, leaver["id"])[1]["idhubAccountStatus"] == ["disabled"]
    # converged ahead of the backlog, not after it: joiners were still waiting their turn
    assert still_waiting >= 200, still_waiting


@pytest.fixture
def mail_settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


def test_onward_mail_jobs_keep_their_urgency_and_an_ended_delegation_is_urgent(
    mail_settings, mail_server
):
    from idhub import create_app
    from tests.conftest import Api, register_client, token_for

    app = create_app(mail_settings)
    try:
        client = app.test_client()
        api = Api(client, token_for(client, register_client(app, ["hr:write"])))
        org = lai_chau(api)
        leaver = make_person(api)
        post = make_assignment(api, leaver, org["dept"], org["specialist"])
        deputy = make_person(api, national_id="001090000301", given_name="Bình")
        make_assignment(api, deputy, org["dept"], org["specialist"])
        drain_all(app)
        _end_post(api, post)
        joiner = make_person(api, national_id="001090000302", given_name="Cúc")
        make_assignment(api, joiner, org["dept"], org["specialist"])
        drain_all(app, mail=False)  # the directory converges both, and queues their mail jobs
        assert _urgency(app, uuid.UUID(leaver["id"]), "mail") == Urgency.URGENT
        assert _urgency(app, uuid.UUID(joiner["id"]), "mail") == Urgency.BULK
        drain_all(app)

        url = f"/api/v1/people/{deputy['id']}/mail-delegations"
        created = api.post(
            url,
            {
                "deputy_id": joiner["id"],
                "start_date": (TODAY - dt.timedelta(days=2)).isoformat(),
                "end_date": (TODAY + dt.timedelta(days=5)).isoformat(),
            },
        )
        assert created.status_code == 201, created.json
        assert _urgency(app, uuid.UUID(deputy["id"]), "mail") == Urgency.BULK  # access given
        drain_all(app)
        ended = api.post(f"{url}/{created.json['id']}/end", {"end_date": YESTERDAY})
        assert ended.status_code == 200, ended.json
        assert _urgency(app, uuid.UUID(deputy["id"]), "mail") == Urgency.URGENT  # taken away
    finally:
        app.extensions["idhub"].db.dispose()


def test_a_leaver_is_shut_out_of_imap_before_a_backlog_of_mailboxes(
    mail_settings, mail_server, tmp_path
):
    from idhub import create_app
    from tests.conftest import Api, register_client, token_for

    app = create_app(mail_settings)
    try:
        client = app.test_client()
        api = Api(client, token_for(client, register_client(app, ["hr:write"])))
        org = lai_chau(api)
        leaver = make_person(api)
        post = make_assignment(api, leaver, org["dept"], org["specialist"])
        drain_all(app)
        set_password(app, leaver["id"], PASSWORD)
        open_session = imap_login(mail_server, "annv", PASSWORD)  # and the login is cached
        open_session.select("INBOX")
        _joiners(api, org, 2000, id_prefix="0140")
        drain_all(app, mail=False)  # their entries: 2,000 mailboxes queued on the mail target
        backlog = _jobs(app, "mail")
        assert backlog >= 2000

        with idhub_worker(mail_settings, mail=mail_settings["mail"]):
            wait_for(lambda: _jobs(app, "mail") < backlog, timeout=60, interval=0.05)
            _end_post(api, post)

            def session_ended() -> bool:
                try:
                    open_session.noop()
                    return False
                except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
                    return True

            wait_for(
                lambda: not can_login(mail_server, "annv", PASSWORD) and session_ended(),
                timeout=CUT_OFF_WITHIN_S,
            )
            still_waiting = _jobs(app, "mail")
        # cut off ahead of the backlog: most mailboxes were still waiting their turn
        assert still_waiting >= backlog // 2, (still_waiting, backlog)
    finally:
        app.extensions["idhub"].db.dispose()


def test_bulk_lanes_hold_back_while_an_urgent_lane_is_at_work():
    """Within one `idhub worker` process a bulk lane starts no round and opens no record
    while an urgent lane claims, plans and applies (engine/worker.py URGENT_WORK)."""
    import threading

    from idhub.engine.worker import UrgentWork

    work = UrgentWork()
    work.begin()
    released = threading.Event()
    bulk = threading.Thread(target=lambda: (work.wait(timeout=60), released.set()))
    bulk.start()
    assert not released.wait(0.3)  # held while the urgent round runs
    work.end()
    assert released.wait(30)
    bulk.join()
    work.wait(timeout=60)  # nothing urgent: no wait at all
