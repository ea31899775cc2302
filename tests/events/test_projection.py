"""The events between what an app was told and what is true: net, typed, numbered, with
ids that stay the same for the same event (so a retry is deduplicated)."""

from __future__ import annotations

import uuid

from idhub.events.projection import EVENT_TYPES, changes, events_between

PID = uuid.UUID("6f1b7c1e-8a55-4f0e-9a55-0d9b0e3c2a11")


def person(**over):
    base = {
        "sub": str(PID),
        "username": "anhdt",
        "name": "Đặng Thị Ánh",
        "email": "anhdt@snv.laichau.gov.vn",
        "unit": {"code": "SNV", "name": "Sở Nội vụ"},
        "position": "Chuyên viên",
        "units": ["SNV"],
        "groups": ["all-staff"],
        "roles": ["user"],
    }
    return {**base, **over}


def types(before, after):
    return [t for t, _ in changes(before, after)]


def test_joiner_leaver_mover_role_change():
    assert types(None, person()) == ["joiner"]
    assert types(person(), None) == ["leaver"]
    assert types(None, None) == []
    assert types(person(), person()) == []
    moved = person(unit={"code": "STC", "name": "Sở Tài chính"}, units=["STC"])
    assert types(person(), moved) == ["mover"]
    promoted = person(roles=["approver", "user"], groups=["all-staff", "managers"])
    assert types(person(), promoted) == ["role_change"]
    both = {**moved, "roles": ["approver", "user"]}
    assert types(person(), both) == ["mover", "role_change"]
    assert types(person(), person(name="Đặng Thị Ánh Hồng")) == []  # not one of the four
    _, data = changes(person(), moved)[0]
    assert data["previous"]["unit"]["code"] == "SNV" and data["person"]["unit"]["code"] == "STC"


def test_a_burst_is_one_net_event():
    """Joined, moved, moved back, promoted before the worker ran: the app is told once,
    a joiner with the person as they are now."""
    now = person(roles=["approver", "user"])
    events = events_between("document", PID, 0, None, now, EVENT_TYPES)
    assert [(e.type, e.seq) for e in events] == [("joiner", 1)]
    assert events[0].payload["data"]["person"]["roles"] == ["approver", "user"]
    # Joined and left again before anything was sent: nothing at all.
    assert events_between("document", PID, 0, None, None, EVENT_TYPES) == []


def test_numbered_after_the_last_sent_and_filtered_by_type():
    moved = person(unit={"code": "STC", "name": "Sở Tài chính"}, roles=["approver"])
    events = events_between("document", PID, 7, person(), moved, EVENT_TYPES)
    assert [(e.type, e.seq) for e in events] == [("mover", 8), ("role_change", 9)]
    only = events_between("document", PID, 7, person(), moved, ["role_change", "leaver"])
    assert [(e.type, e.seq) for e in only] == [("role_change", 8)]


def test_the_same_event_keeps_its_id_a_different_one_does_not():
    first = events_between("document", PID, 3, None, person(), EVENT_TYPES)[0]
    again = events_between("document", PID, 3, None, person(), EVENT_TYPES)[0]
    assert first.id == again.id and first.body() == again.body()
    other_app = events_between("meeting", PID, 3, None, person(), EVENT_TYPES)[0]
    newer = events_between("document", PID, 3, None, person(position="Phó"), EVENT_TYPES)[0]
    assert len({first.id, other_app.id, newer.id}) == 3
    assert first.payload["id"] == first.id and first.id.startswith("evt_")


def test_only_the_people_who_may_use_the_app(app, api):
    """A gated app (the rules give roles in it) hears only about holders of one of its
    roles, with those roles only; an app the rules do not name, about every active member
    of staff; nobody hears about a person without a post today."""
    import dataclasses

    from idhub.events.projection import projections
    from provisioning.rules import Role
    from tests.fixtures.factories import make_person
    from tests.fixtures.sso import hr_person

    hub = app.extensions["idhub"]
    archive = Role("archivist", app_roles=("archive:keeper",))  # a role no rule gives
    rules = dataclasses.replace(hub.rules, roles={**hub.rules.roles, "archivist": archive})
    staff = uuid.UUID(hr_person(api, given_name="Lan")["id"])
    no_post = uuid.UUID(make_person(api, given_name="Minh")["id"])
    clients = ["document", "archive", "helpdesk"]
    with hub.db.reading() as session:
        found = projections(session, [staff, no_post], clients, rules, hub.connectors.base_dn)
    assert found[no_post] == dict.fromkeys(clients)
    assert found[staff]["archive"] is None  # gated, and Lan holds none of its roles
    assert found[staff]["document"]["roles"] == ["user"]  # "document:user", prefix dropped
    assert found[staff]["helpdesk"]["roles"] == []  # not gated: every active member
    assert found[staff]["helpdesk"]["sub"] == str(staff)
    assert "all-staff" in found[staff]["document"]["groups"]
