"""Prompt recovery: after slapd comes back, the jobs that waited run at once, none was
burnt or pushed into the future by the outage, and the outage logged one warning and one
summary rather than one warning per round."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import time

from sqlalchemy import func, select

from idhub.models import JobState, ProvisioningJob, utcnow
from tests.conftest import Api, register_client, token_for
from tests.engine import test_provisioning_resilience as resilience
from tests.engine.test_provisioning_resilience import (
    all_in_sync,
    joiners_batch,
    people_in_directory,
    queue_empty,
)
from tests.fixtures.provisioning import BackgroundWorker, make_worker, wait_for

own_slapd = resilience.own_slapd  # a slapd of the test's own, to stop and start
own_app = resilience.own_app

JOINERS = 2000
OUTAGE_S = 4.0


def queue_state(app) -> tuple[dict[JobState, int], int, dt.datetime | None]:
    """Jobs by state, their highest attempts, and the latest next_try_at of a pending one."""
    with app.extensions["idhub"].db.transaction() as session:
        states = dict(
            session.execute(
                select(ProvisioningJob.state, func.count()).group_by(ProvisioningJob.state)
            ).all()
        )
        attempts = session.scalar(select(func.max(ProvisioningJob.attempts))) or 0
        latest = session.scalar(
            select(func.max(ProvisioningJob.next_try_at)).where(
                ProvisioningJob.state == JobState.PENDING
            )
        )
    return states, attempts, latest


def unavailable_warnings(caplog) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and "unavailable" in r.getMessage()
    ]


def test_the_rest_converge_at_once_when_slapd_comes_back(own_app, own_slapd, caplog, database_url):
    """On PostgreSQL two workers share the queue, each waiting out the outage by itself."""
    caplog.set_level(logging.INFO, logger="idhub.engine")
    count = 2 if database_url.startswith("postgresql") else 1
    client = own_app.test_client()
    api = Api(client, token_for(client, register_client(own_app, ["hr:write"])))
    joiners_batch(api, JOINERS)
    # The deployed backoff (1 s doubling to 5 min), not the tests' short one: an outage
    # must not push the jobs back by it.
    deployed = {"batch_size": 100, "backoff_base_s": 1.0, "backoff_max_s": 300.0}
    with contextlib.ExitStack() as workers:
        for _ in range(count):
            workers.enter_context(BackgroundWorker(own_app, **deployed))
        wait_for(lambda: len(people_in_directory(own_slapd)) >= 300, timeout=120)
        own_slapd.stop()
        # The round in flight is handed back; then nothing is claimed until slapd answers.
        wait_for(lambda: set(queue_state(own_app)[0]) == {JobState.PENDING}, timeout=30)
        time.sleep(OUTAGE_S)
        states, attempts, _ = queue_state(own_app)
        assert set(states) == {JobState.PENDING}, states  # none parked, none held
        assert attempts == 0  # the outage burnt no job's attempts
        own_slapd.start()
        # The directory is healthy: no job waits for a backoff of its own.
        _, _, latest = queue_state(own_app)
        assert latest is not None and latest <= utcnow() + dt.timedelta(seconds=2), latest
        wait_for(lambda: queue_empty(own_app), timeout=120, interval=0.1)
    ids = people_in_directory(own_slapd)
    assert len(ids) == JOINERS and len(set(ids)) == JOINERS  # none lost, none duplicated
    all_in_sync(own_app, JOINERS)
    warnings = unavailable_warnings(caplog)
    assert len(warnings) <= 2 * count, [w.getMessage() for w in warnings]
    summaries = [r for r in caplog.records if "back after" in r.getMessage()]
    assert 1 <= len(summaries) <= count
    assert all(r.levelno == logging.INFO for r in summaries)


def test_a_worker_waiting_out_an_outage_claims_nothing_until_its_probe_answers(own_app, own_slapd):
    """`run_once` (as `idhub worker --once` uses it) probes a target known to be away
    instead of claiming: nothing is taken from the queue while slapd is down."""
    client = own_app.test_client()
    api = Api(client, token_for(client, register_client(own_app, ["hr:write"])))
    joiners_batch(api, 5)
    worker = make_worker(own_app, batch_size=10)
    try:
        own_slapd.stop()
        assert worker.run_once() == 5  # claimed, found slapd away, handed back
        assert worker.outage.away
        for _ in range(3):
            assert worker.run_once() == 0  # probed, still away: nothing claimed
        states, attempts, _ = queue_state(own_app)
        assert states == {JobState.PENDING: 5} and attempts == 0
        own_slapd.start()
        assert worker.run_once() == 5  # the probe answers: the jobs run at once
        assert not worker.outage.away
    finally:
        worker.target.connector.close()
    assert queue_empty(own_app)
    assert len(people_in_directory(own_slapd)) == 5
