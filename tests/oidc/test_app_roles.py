"""Claims per app: each client sees its own app's roles only, unit-bound roles carry their
unit, and a delegation (ủy quyền) gives the deputy the delegator's roles for its dates
only, switched on and off by the date and announced to the apps following events."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from idhub.changes.chain import Actor
from idhub.changes.context import HrContext
from idhub.cli import main
from idhub.errors import Invalid
from idhub.events.projection import projections
from idhub.identity import app_delegations
from idhub.models import AppDelegation, AuditEvent, OAuthClient, Person, ProvisioningJob
from idhub.oidc.claims import person_claims
from provisioning.app_roles import known_apps
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.sso import register_app
from tests.oidc.test_admin import _env

TODAY = dt.date.today()
DAY = dt.timedelta(days=1)


@pytest.fixture
def people(api) -> dict[str, Any]:
    """A commune chairman (chair of the commune's meetings) and a civil servant there."""
    commune = make_unit(api, code="XA.TAMDUONG", name="Ủy ban nhân dân xã Tam Đường")
    chairman = make_position(api, code="CT_UBND_XA", name="Chủ tịch UBND xã", leadership_level=4)
    officer = make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    chair = make_person(api, family_name="Lò", middle_name="Văn", given_name="Chính")
    deputy = make_person(api, family_name="Tòng", middle_name="Thị", given_name="Phó")
    make_assignment(api, chair, commune, chairman)
    make_assignment(api, deputy, commune, officer)
    return {"chair": chair, "deputy": deputy, "unit": commune}


def clients(app) -> dict[str, OAuthClient]:  # type: ignore[no-untyped-def]
    made = {
        "meeting": register_app(app, name="Họp", client_id="meeting-app", app_key="meeting"),
        "document": register_app(app, name="Văn bản", client_id="doc-app", app_key="document"),
        "plain": register_app(app, name="Chung", client_id="plain-app"),
    }
    with app.extensions["idhub"].db.reading() as session:
        rows = {
            k: session.scalar(select(OAuthClient).where(OAuthClient.client_id == v.client_id))
            for k, v in made.items()
        }
        session.expunge_all()
    return rows  # type: ignore[return-value]


def claims_of(app, person_id: str, client: OAuthClient | None, today: dt.date = TODAY) -> dict:  # type: ignore[no-untyped-def]
    with app.app_context(), app.extensions["idhub"].db.reading() as session:
        person = session.get(Person, uuid.UUID(person_id))
        return person_claims(session, person, {"roles"}, client=client, today=today)


def delegate(flask_app, people, **over: Any) -> AppDelegation:  # type: ignore[no-untyped-def]
    app = flask_app
    hub = app.extensions["idhub"]
    data = {
        "deputy": people["deputy"]["username"],
        "app": "meeting",
        "roles": ["meeting:chair"],
        "unit_code": "XA.TAMDUONG",
        "start_date": TODAY,
        "end_date": TODAY,
        "reason": "Đi công tác tỉnh",
        **over,
    }
    with app.app_context(), hub.db.transaction() as session:
        ctx = HrContext(session, hub.audit, Actor("person", people["chair"]["id"]))
        row = app_delegations.create(
            ctx, uuid.UUID(people["chair"]["id"]), data, known_apps=known_apps(hub.rules)
        )
        session.flush()
        session.expunge(row)
    return row


def test_each_client_sees_its_own_app_roles_only(app, people) -> None:
    found = clients(app)
    meeting = claims_of(app, people["chair"]["id"], found["meeting"])
    assert meeting["app_roles"] == ["meeting:user"]
    assert meeting["app_roles_by_unit"] == {"XA.TAMDUONG": ["meeting:chair"]}
    assert meeting["delegated_app_roles"] == []
    assert "roles" not in meeting and "groups" not in meeting  # an app: its own roles only
    document = claims_of(app, people["chair"]["id"], found["document"])
    assert set(document["app_roles"]) == {"document:approver", "document:signer", "document:user"}
    assert document["app_roles_by_unit"] == {}
    plain = claims_of(app, people["chair"]["id"], found["plain"])
    assert plain["app_roles"] == [] and plain["app_roles_by_unit"] == {}  # no app key
    assert "staff" in plain["roles"] and "all-staff" in plain["groups"]


def test_a_delegation_switches_on_and_off_with_the_date(app, people) -> None:
    meeting = clients(app)["meeting"]
    row = delegate(app, people, start_date=TODAY + DAY, end_date=TODAY + 2 * DAY)
    deputy = people["deputy"]["id"]
    assert claims_of(app, deputy, meeting)["app_roles_by_unit"] == {}  # not yet
    on = claims_of(app, deputy, meeting, today=TODAY + DAY)
    assert on["app_roles_by_unit"] == {"XA.TAMDUONG": ["meeting:chair"]}
    (given,) = on["delegated_app_roles"]
    assert given["role"] == "meeting:chair" and given["unit"] == "XA.TAMDUONG"
    assert given["delegated_from"]["username"] == people["chair"]["username"]
    assert given["delegated_from"]["name"] == "Lò Văn Chính"
    assert given["reason"] == "Đi công tác tỉnh"
    assert claims_of(app, deputy, meeting, today=TODAY + 2 * DAY)["delegated_app_roles"]
    assert claims_of(app, deputy, meeting, today=TODAY + 3 * DAY)["app_roles_by_unit"] == {}
    # another app never sees it
    document = clients_of_app(app, "document")
    assert claims_of(app, deputy, document, today=TODAY + DAY)["delegated_app_roles"] == []
    assert row.started_at is None


def clients_of_app(app, key: str) -> OAuthClient:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        row = session.scalar(select(OAuthClient).where(OAuthClient.app_key == key))
        assert row is not None
        session.expunge(row)
    return row


def test_the_sweep_marks_start_and_end_audits_and_queues_the_deputy(app, people) -> None:
    clients(app)
    hub = app.extensions["idhub"]
    row = delegate(app, people, start_date=TODAY + DAY, end_date=TODAY + DAY)

    def sweep(day: dt.date) -> set[uuid.UUID]:
        with app.app_context(), hub.db.transaction() as session:
            return app_delegations.sweep(HrContext(session, hub.audit, Actor("system")), day)

    deputy = uuid.UUID(people["deputy"]["id"])
    assert sweep(TODAY) == set()
    assert sweep(TODAY + DAY) == {deputy}
    assert sweep(TODAY + DAY) == set()  # once only
    assert sweep(TODAY + 2 * DAY) == {deputy}
    with hub.db.reading() as session:
        actions = list(
            session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == str(row.id)))
        )
        jobs = list(
            session.scalars(
                select(ProvisioningJob.target).where(ProvisioningJob.subject_id == deputy)
            )
        )
    assert actions == ["app_delegation.create", "app_delegation.start", "app_delegation.end"]
    assert "app_events" in jobs


def test_events_to_the_meeting_app_follow_the_delegation(app, people) -> None:
    """What the meetings app is told of the deputy: nothing delegated before, the chair's
    role on behalf of the chairman while it runs, nothing again after (a role_change)."""
    clients(app)
    hub = app.extensions["idhub"]
    delegate(app, people, start_date=TODAY + DAY, end_date=TODAY + DAY)
    deputy = uuid.UUID(people["deputy"]["id"])

    def told(day: dt.date) -> dict:
        with hub.db.reading() as session:
            found = projections(
                session, [deputy], {"meeting-app": "meeting"}, hub.rules,
                hub.connectors.base_dn, today=day,
            )  # fmt: skip
        return found[deputy]["meeting-app"]

    before, during, after = told(TODAY), told(TODAY + DAY), told(TODAY + 2 * DAY)
    assert before["roles_by_unit"] == {} and before["delegated"] == []
    assert during["roles_by_unit"] == {"XA.TAMDUONG": ["chair"]}
    assert during["delegated"][0]["from"]["username"] == people["chair"]["username"]
    assert after == before
    from idhub.events.projection import changes

    assert "groups" in before  # a generic client (hub_roles) is told the groups
    with hub.db.reading() as session:
        hidden = projections(
            session, [deputy], {"meeting-app": "meeting"}, hub.rules, hub.connectors.base_dn,
            without_groups={"meeting-app"},
        )[deputy]["meeting-app"]  # fmt: skip
    assert "groups" not in hidden and hidden["roles"] == ["user"]
    assert [t for t, _ in changes(before, during)] == ["role_change"]
    assert [t for t, _ in changes(during, after)] == ["role_change"]


def test_bad_delegations_are_refused_with_every_problem(app, people) -> None:
    clients(app)
    with pytest.raises(Invalid) as caught:
        delegate(
            app,
            people,
            deputy=people["chair"]["username"],
            app="nowhere",
            roles=["document:signer"],
            end_date=TODAY - DAY,
            reason=" ",
        )
    assert set(caught.value.details or {}) == {"deputy", "app", "roles", "end_date", "reason"}


def test_the_cli_registers_an_app_key_and_refuses_a_bad_one(app, settings, monkeypatch) -> None:
    _env(monkeypatch, settings)
    base = ["client", "create", "--name", "Họp", "--scope", "openid", "--json"]
    out = CliRunner().invoke(main, [*base, "--app", "meeting"])
    assert out.exit_code == 0, out.output
    client_id = json.loads(out.stdout)["client_id"]
    with app.extensions["idhub"].db.reading() as session:
        row = session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))
        assert row is not None and row.app_key == "meeting" and not row.hub_roles
    listed = CliRunner().invoke(main, ["client", "list"])
    assert f"{client_id}\tactive\topenid\tHọp\tapp=meeting" in listed.output
    bad = CliRunner().invoke(main, [*base, "--app", "Họp"])
    assert bad.exit_code != 0 and "App key" in bad.output
