"""Nothing is lost: slapd stopped mid-batch, a worker killed with SIGKILL mid-batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import ldap
import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from connectors.base import TargetUnavailable
from idhub import create_app
from idhub.engine import worker as worker_module
from idhub.models import AccountLink, JobState, LinkState, ProvisioningJob
from tests.conftest import Api, register_client, token_for
from tests.fixtures.factories import joiner_items, make_position, make_unit
from tests.fixtures.ldap import ADMIN_PASSWORD, make_slapd
from tests.fixtures.provisioning import BackgroundWorker, make_worker, wait_for


@pytest.fixture
def own_slapd(tmp_path):
    server = make_slapd(tmp_path / "slapd").start()
    yield server
    server.stop()


@pytest.fixture
def own_app(settings, own_slapd):
    settings["ldap"]["url"] = own_slapd.url
    settings["ldap"]["base_dn"] = own_slapd.base_dn
    settings["ldap"]["timeout_s"] = 2.0
    application = create_app(settings)
    yield application
    application.extensions["idhub"].db.dispose()


def joiners_batch(api, count: int, *, start: int = 0, org=None):  # type: ignore[no-untyped-def]
    """`count` joiners in one batch; returns the (unit, position) they joined, for more."""
    unit, position = org or (
        make_unit(api, code="12", type="province_committee", mail_domain="laichau.gov.vn"),
        make_position(api, code="CHUYEN_VIEN", name="Chuyên viên"),
    )
    items = joiner_items(
        unit, position, count, start=start, id_prefix="0120", name=("Nguyễn", "Văn", "An")
    )
    response = api.post("/api/v1/batches", {"items": items, "reason": "QĐ 1/QĐ-UBND"})
    assert response.status_code == 200, response.json
    assert response.json["jobs"] == count
    return unit, position


def people_in_directory(server) -> list[str]:
    conn = server.connect()
    try:
        found = conn.search_s(
            server.base_dn, ldap.SCOPE_SUBTREE, "(objectClass=idhubPerson)", ["idhubPersonId"]
        )
    finally:
        conn.unbind_s()
    return [attrs["idhubPersonId"][0].decode() for _, attrs in found]


def queue_empty(app) -> bool:
    with app.extensions["idhub"].db.transaction() as session:
        return session.scalar(select(func.count()).select_from(ProvisioningJob)) == 0


def all_in_sync(app, count: int) -> None:
    with app.extensions["idhub"].db.transaction() as session:
        states = dict(
            session.execute(
                select(AccountLink.state, func.count()).group_by(AccountLink.state)
            ).all()
        )
    assert states == {LinkState.IN_SYNC: count}, states


def test_slapd_stopped_during_a_batch_of_1000_joiners(own_app, own_slapd):
    client = own_app.test_client()
    api = Api(client, token_for(client, register_client(own_app, ["hr:write"])))
    joiners_batch(api, 1000)
    with BackgroundWorker(own_app, batch_size=100):
        wait_for(lambda: len(people_in_directory(own_slapd)) >= 100, timeout=60)
        own_slapd.stop()
        time.sleep(1.5)  # the worker keeps trying and backs off meanwhile
        own_slapd.start()
        wait_for(lambda: queue_empty(own_app), timeout=180, interval=0.2)
    ids = people_in_directory(own_slapd)
    assert len(ids) == 1000 and len(set(ids)) == 1000  # none lost, none duplicated
    all_in_sync(own_app, 1000)


def worker_environment(settings, server) -> dict[str, str]:
    return {
        **os.environ,
        "IDHUB_VAR_DIR": settings["var_dir"],
        "IDHUB_DATABASE_URL": settings["database"]["url"],
        "IDHUB_LDAP_URL": server.url,
        "IDHUB_LDAP_BASE_DN": server.base_dn,
        "IDHUB_LDAP_BIND_DN": server.admin_dn,
        "IDHUB_LDAP_PASSWORD": ADMIN_PASSWORD,
        "IDHUB_PROVISIONING_LEASE_S": "2",
        "IDHUB_PROVISIONING_BATCH_SIZE": "50",
        "IDHUB_LOGGING_LEVEL": "WARNING",
    }


def test_worker_killed_mid_batch_is_taken_over_after_its_lease(own_app, own_slapd, settings):
    client = own_app.test_client()
    api = Api(client, token_for(client, register_client(own_app, ["hr:write"])))
    joiners_batch(api, 600)
    env = worker_environment(settings, own_slapd)
    victim = subprocess.Popen([sys.executable, "-m", "idhub.cli", "worker"], env=env)
    try:
        wait_for(lambda: len(people_in_directory(own_slapd)) >= 50, timeout=60)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    with own_app.extensions["idhub"].db.transaction() as session:
        left = session.scalar(select(func.count()).select_from(ProvisioningJob))
    assert left > 0, "the worker finished before it was killed; nothing was tested"
    with BackgroundWorker(own_app, lease_s=2):
        wait_for(lambda: queue_empty(own_app), timeout=180, interval=0.2)
    ids = people_in_directory(own_slapd)
    assert len(ids) == 600 and len(set(ids)) == 600
    all_in_sync(own_app, 600)


def test_sigterm_mid_batch_records_every_round_it_applied(own_app, own_slapd, settings):
    """The worker records one round while it applies the next: on SIGTERM it converges
    the round it already claimed, records both, and leaves no job leased behind."""
    client = own_app.test_client()
    api = Api(client, token_for(client, register_client(own_app, ["hr:write"])))
    joiners_batch(api, 600)
    env = {**worker_environment(settings, own_slapd), "IDHUB_PROVISIONING_LEASE_S": "600"}
    worker = subprocess.Popen([sys.executable, "-m", "idhub.cli", "worker"], env=env)
    try:
        wait_for(lambda: len(people_in_directory(own_slapd)) >= 100, timeout=60)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    in_directory = set(people_in_directory(own_slapd))
    with own_app.extensions["idhub"].db.transaction() as session:
        states = dict(
            session.execute(
                select(ProvisioningJob.state, func.count()).group_by(ProvisioningJob.state)
            ).all()
        )
        recorded = set(
            session.scalars(
                select(AccountLink.person_id).where(AccountLink.state == LinkState.IN_SYNC)
            )
        )
    assert sum(states.values()) > 0, "the worker finished before it was stopped"
    assert set(states) == {JobState.PENDING}, states  # none left leased (lease is 10 min)
    assert {str(p) for p in recorded} == in_directory  # every entry written was recorded
    with BackgroundWorker(own_app):
        wait_for(lambda: queue_empty(own_app), timeout=180, interval=0.2)
    all_in_sync(own_app, 600)


def test_an_idle_worker_on_postgresql_wakes_when_jobs_are_queued(
    own_app, own_slapd, settings, database_url
):
    """LISTEN/NOTIFY: with a 60 s poll, only the wake-up can bring a joiner to LDAP soon."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no NOTIFY: its workers poll")
    client = own_app.test_client()
    api = Api(client, token_for(client, register_client(own_app, ["hr:write"])))
    env = {**worker_environment(settings, own_slapd), "IDHUB_PROVISIONING_POLL_INTERVAL_S": "60"}
    worker = subprocess.Popen([sys.executable, "-m", "idhub.cli", "worker"], env=env)
    try:
        org = joiners_batch(api, 1)
        wait_for(lambda: len(people_in_directory(own_slapd)) == 1, timeout=60)
        wait_for(lambda: queue_empty(own_app), timeout=60)
        time.sleep(1.0)  # the worker has found the queue empty and waits on its poll
        joiners_batch(api, 1, start=1, org=org)
        wait_for(lambda: len(people_in_directory(own_slapd)) == 2, timeout=15)
        time.sleep(1.0)  # idle again, in the middle of its 60 s wait
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0  # a stop does not wait for the poll either


def test_a_round_lost_to_an_outage_is_handed_back_and_keeps_a_later_change(own_app, own_slapd):
    """The directory fails mid-round while HR changes one of the people: that person's
    newer job stays as queued (due now), the others go back as they were (due, the
    attempt given back: an outage is not the jobs' fault); none lost."""
    client = own_app.test_client()
    api = Api(client, token_for(client, register_client(own_app, ["hr:write"])))
    joiners_batch(api, 3)
    with own_app.extensions["idhub"].db.transaction() as session:
        subjects = sorted(session.scalars(select(ProvisioningJob.subject_id)))
    worker = make_worker(own_app, batch_size=10)

    def directory_goes_away(keys):  # type: ignore[no-untyped-def]
        api.patch_fresh(f"/api/v1/people/{subjects[0]}", {"given_name": "Ân"})
        raise TargetUnavailable("slapd went away")

    worker.target.connector.read_many = directory_goes_away
    try:
        assert worker.run_once() == 3  # claimed, then handed back
    finally:
        worker.target.connector.close()
    with own_app.extensions["idhub"].db.transaction() as session:
        queued = list(session.scalars(select(ProvisioningJob)))
        links = {link.person_id: link for link in session.scalars(select(AccountLink))}
    assert sorted(j.subject_id for j in queued) == subjects  # none lost, none doubled
    jobs = {j.subject_id: j for j in queued}
    newer = jobs[subjects[0]]
    assert newer.state == JobState.PENDING and newer.attempts == 0 and newer.last_error is None
    for subject in subjects[1:]:
        job = jobs[subject]
        assert job.state == JobState.PENDING and job.attempts == 0
        assert "slapd went away" in job.last_error
        assert job.next_try_at <= newer.next_try_at  # not backed off: still first in line
        assert links[subject].state == LinkState.PENDING
    assert worker.outage.away  # the worker waits for the directory, not the jobs


def test_the_database_dropping_every_connection_mid_batch_loses_nothing(
    own_app, own_slapd, settings, database_url
):
    """PostgreSQL cuts every connection of the hub (a restart, a failover) again and again
    while a worker converges 1,000 joiners: the worker lives on, and all converge once."""
    if not database_url.startswith("postgresql"):
        pytest.skip("an embedded SQLite database cannot drop its connections")
    client = own_app.test_client()
    api = Api(client, token_for(client, register_client(own_app, ["hr:write"])))
    joiners_batch(api, 1000)
    env = {**worker_environment(settings, own_slapd), "IDHUB_PROVISIONING_BATCH_SIZE": "50"}
    worker = subprocess.Popen([sys.executable, "-m", "idhub.cli", "worker"], env=env)
    killer = psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql", 1))
    killer.autocommit = True
    try:
        wait_for(lambda: len(people_in_directory(own_slapd)) >= 50, timeout=60)
        cut, deadline = 0, time.monotonic() + 2.0
        while time.monotonic() < deadline:
            cut += len(
                killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            )
            time.sleep(0.02)
        assert cut > 0
        assert worker.poll() is None  # still running
        wait_for(lambda: queue_empty(own_app), timeout=180, interval=0.2)
    finally:
        killer.close()
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    ids = people_in_directory(own_slapd)
    assert len(ids) == 1000 and len(set(ids)) == 1000  # none lost, none duplicated
    all_in_sync(own_app, 1000)


def test_a_round_is_recorded_once_the_database_is_back(own_app, own_slapd, monkeypatch):
    """The database goes away after the directory took a round's writes: the worker
    records the round when it is back, instead of leaving its jobs leased for a lease."""
    monkeypatch.setattr(worker_module, "RECORD_RETRY_DELAYS_S", (0.01, 0.01))
    client = own_app.test_client()
    api = Api(client, token_for(client, register_client(own_app, ["hr:write"])))
    joiners_batch(api, 5)
    worker = make_worker(own_app, batch_size=10)
    record, failures = worker._record, []

    def database_away_twice(r):  # type: ignore[no-untyped-def]
        if len(failures) < 2:
            failures.append(r)
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection"))
        record(r)

    worker._record = database_away_twice
    try:
        assert worker.run_once() == 5
    finally:
        worker.target.connector.close()
    assert len(failures) == 2
    assert queue_empty(own_app)  # recorded at the third try, not left to the lease
    all_in_sync(own_app, 5)
    assert len(people_in_directory(own_slapd)) == 5
