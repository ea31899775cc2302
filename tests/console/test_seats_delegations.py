"""Seat mailboxes and mail delegations at the console (#18): listed in one's scope only;
a delegation made (owner and deputy in scope, dates checked, nothing partial) and ended
with confirmation; another commune's delegation is not listed and answers 404."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select

from idhub.models import MailDelegation, Seat
from tests.console.grants import grant
from tests.console.ops import csrf
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit


def _communes(api):  # type: ignore[no-untyped-def]
    province = make_unit(api, code="12", name="UBND tỉnh", type="province_committee")
    a = make_unit(api, code="XA.A", name="UBND xã A", parent_id=province["id"])
    b = make_unit(api, code="XA.B", name="UBND xã B", parent_id=province["id"])
    clerk = make_position(api, code="CHUYEN_VIEN", name="Chuyên viên")
    people = []
    for unit, given in ((a, "An"), (a, "Ánh"), (b, "Bình"), (b, "Bảo")):
        found = make_person(api, family_name="Lò", middle_name="Văn", given_name=given)
        make_assignment(api, found, unit, clerk)
        people.append(found)
    return a, b, people


def _delegations(app) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(MailDelegation)) or 0


def test_seats_are_listed_in_scope_only(app, api, hub, person, browser):
    a, b, _ = _communes(api)
    with app.extensions["idhub"].db.transaction() as session:
        for unit, uid in ((a, "vanthu.xa-a"), (b, "vanthu.xa-b")):
            session.add(
                Seat(
                    id=uuid.uuid4(), unit_id=uuid.UUID(unit["id"]), position_code="VAN_THU", uid=uid
                )
            )
    grant(app, person["id"], "hr_officer", a["id"])
    page = browser.get(hub + "/admin/seats?lang=vi")
    assert page.status_code == 200 and "Hộp thư theo chức danh" in page.text
    assert "vanthu.xa-a" in page.text and "vanthu.xa-b" not in page.text
    assert "vanthu.xa-a" not in browser.get(hub + "/admin/seats", params={"q": "khong"}).text


def test_delegations_made_and_ended_in_scope(app, api, hub, person, browser):
    a, b, (an, anh, binh, bao) = _communes(api)
    today = dt.date.today()
    theirs = api.post(
        f"/api/v1/people/{binh['id']}/mail-delegations",
        {
            "deputy_id": bao["id"],
            "start_date": today.isoformat(),
            "end_date": (today + dt.timedelta(days=60)).isoformat(),
        },
    ).json
    grant(app, person["id"], "hr_officer", a["id"])
    page = browser.get(hub + "/admin/delegations?lang=vi")
    assert page.status_code == 200 and binh["username"] not in page.text
    token = csrf(page.text)
    form = {
        "csrf_token": token,
        "owner": an["username"],
        "deputy": anh["username"],
        "start_date": today.isoformat(),
        "end_date": (today + dt.timedelta(days=30)).isoformat(),
        "reason": "Nghỉ phép",
    }
    before = _delegations(app)
    for bad, field in (
        ({"owner": binh["username"]}, "owner"),  # outside the scope: as if absent
        ({"deputy": an["username"]}, "deputy"),  # their own deputy
        ({"end_date": (today - dt.timedelta(days=1)).isoformat()}, "end_date"),
        ({"start_date": "31/02/2025"}, "start_date"),
    ):
        response = browser.post(hub + "/admin/delegations?lang=vi", data={**form, **bad})
        assert response.status_code == 422, bad
        assert f'id="err-{field}"' in response.text
    assert _delegations(app) == before
    made = browser.post(hub + "/admin/delegations", data=form, allow_redirects=False)
    assert made.status_code == 303 and _delegations(app) == before + 1
    listed = browser.get(hub + "/admin/delegations")
    assert an["username"] in listed.text and anh["username"] in listed.text
    with app.extensions["idhub"].db.reading() as session:
        mine = session.scalar(
            select(MailDelegation.id).where(MailDelegation.owner_id == uuid.UUID(an["id"]))
        )
    end = {"csrf_token": token, "end_date": today.isoformat()}
    assert browser.post(hub + f"/admin/delegations/{mine}/end", data=end).status_code == 422
    ended = browser.post(
        hub + f"/admin/delegations/{mine}/end",
        data={**end, "confirm": "yes"},
        allow_redirects=False,
    )
    assert ended.status_code == 303
    with app.extensions["idhub"].db.reading() as session:
        assert session.get(MailDelegation, mine).end_date == today
    hidden = browser.post(
        hub + f"/admin/delegations/{theirs['id']}/end", data={**end, "confirm": "yes"}
    )
    assert hidden.status_code == 404
