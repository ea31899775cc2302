"""Dates that pass change accounts with no HR write: the daily sweep queues those people."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from idhub.models import ProvisioningJob
from idhub.scheduler.sweep import sweep
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.provisioning import drain, entry

TODAY = dt.date.today()


def queued(app) -> set[str]:
    with app.extensions["idhub"].db.transaction() as session:
        return {str(i) for i in session.scalars(select(ProvisioningJob.subject_id))}


def clear_queue(app) -> None:
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(delete(ProvisioningJob))


def run_sweep(app, today: dt.date) -> int:
    with app.extensions["idhub"].db.transaction() as session:
        return sweep(session, app.extensions["idhub"].rules, today)


def test_sweep_finds_starts_ends_and_retention(app, api):
    unit, position = make_unit(api), make_position(api)
    starter, leaver, old_leaver, steady = (make_person(api) for _ in range(4))
    make_assignment(
        api, starter, unit, position, start_date=(TODAY + dt.timedelta(days=3)).isoformat()
    )
    make_assignment(
        api, leaver, unit, position, end_date=(TODAY + dt.timedelta(days=1)).isoformat()
    )
    make_assignment(
        api,
        old_leaver,
        unit,
        position,
        start_date="2024-01-01",
        end_date=(TODAY - dt.timedelta(days=88)).isoformat(),
    )
    make_assignment(api, steady, unit, position)
    clear_queue(app)

    assert run_sweep(app, TODAY) == 0  # first sweep covers today only: nothing starts or ends
    assert run_sweep(app, TODAY) == 0  # twice on one day: nothing more
    day3 = TODAY + dt.timedelta(days=3)
    assert run_sweep(app, day3) == 3  # covers the days since the last sweep
    assert queued(app) == {starter["id"], leaver["id"], old_leaver["id"]}


def test_a_leaver_is_disabled_the_day_after_the_end_date_without_any_hr_write(app, api):
    unit, position = make_unit(api), make_position(api)
    person = make_person(api)
    make_assignment(
        api,
        person,
        unit,
        position,
        start_date="2025-07-01",
        end_date=(TODAY - dt.timedelta(days=1)).isoformat(),
    )
    # Recorded in advance: while the post was running the account was active.
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(delete(ProvisioningJob))
    assert entry(app, person["id"]) is None
    run_sweep(app, TODAY - dt.timedelta(days=1))  # the sweep of the previous day ran
    assert run_sweep(app, TODAY) == 1
    drain(app)
    assert entry(app, person["id"])[1]["idhubAccountStatus"] == ["disabled"]
