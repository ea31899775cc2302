"""HR actions at the console: each shows the converge plan first (nothing written), then
saves on confirmation in one transaction with its reason; errors per field in
Vietnamese; writes outside the officer's commune refused."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from sqlalchemy import func, select

from idhub.models import Assignment, AuditEvent, Person, PersonStatus
from tests.console.communes import Communes, csrf_of, two_communes
from tests.console.grants import grant
from tests.fixtures.factories import national_id

TODAY = dt.date.today()


@pytest.fixture
def communes(app, api, person) -> Communes:
    return two_communes(app, api, person)


def people_count(app) -> int:
    with app.extensions["idhub"].db.reading() as session:
        return session.scalar(select(func.count()).select_from(Person))


def joiner_form(csrf: str, **fields: str) -> dict:
    return {
        "csrf_token": csrf,
        "family_name": "Hoàng",
        "middle_name": "Minh",
        "given_name": "Đức",
        "national_id": national_id("1990-04-02"),
        "date_of_birth": "1990-04-02",
        "unit_code": "XA.AN",
        "position_code": "CONG_CHUC",
        "start_date": TODAY.isoformat(),
        "decision_ref": "12/QĐ-UBND",
        "reason": "Tuyển dụng công chức",
        **fields,
    }


def test_joiner_shows_the_plan_then_saves_on_confirmation(app, hub, browser, communes):
    url = hub + "/admin/people/new?lang=vi"
    form = joiner_form(csrf_of(browser.get(url).text))
    before = people_count(app)
    preview = browser.post(url, data={**form, "step": "preview"})
    assert preview.status_code == 200, preview.text
    assert "Kế hoạch đồng bộ" in preview.text
    assert re.search(r"tạo tài khoản uid=[a-z0-9.]+,", preview.text), preview.text
    assert "thêm vào nhóm" in preview.text
    assert people_count(app) == before  # a preview writes nothing
    # The confirmation carries the same values, hidden, with the CSRF token.
    plan = preview.text.split('id="plan"')[1].split("</section>")[0]
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', plan))
    assert hidden["step"] == "confirm" and hidden["given_name"] == "Đức"
    saved = browser.post(url, data=hidden, allow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert people_count(app) == before + 1
    page = browser.get(hub + saved.headers["Location"])
    assert "Hoàng Minh Đức" in page.text
    with app.extensions["idhub"].db.reading() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(("person.create", "assignment.create")))
        ).all()
        assert {e.reason for e in events if e.reason} >= {"Tuyển dụng công chức"}


def test_joiner_errors_per_field_nothing_written(app, hub, browser, communes):
    url = hub + "/admin/people/new?lang=vi"
    csrf = csrf_of(browser.get(url).text)
    before = people_count(app)
    bad = browser.post(
        url,
        data={
            **joiner_form(csrf, national_id="123", given_name="", start_date="x"),
            "step": "confirm",
        },
    )
    assert bad.status_code == 422
    assert 'id="e-given_name"' in bad.text and "Bắt buộc nhập" in bad.text
    assert 'id="e-start_date"' in bad.text and "Ngày không hợp lệ" in bad.text
    cccd = browser.post(
        url,
        data={
            **joiner_form(csrf, national_id="001090000000", date_of_birth="1985-01-01"),
            "step": "confirm",
        },
    )
    assert cccd.status_code == 422
    assert 'id="e-national_id"' in cccd.text and "CCCD không hợp lệ" in cccd.text
    unit = browser.post(url, data={**joiner_form(csrf, unit_code="KHONG.CO"), "step": "preview"})
    assert 'id="e-unit_code"' in unit.text and "Không có đơn vị" in unit.text
    assert people_count(app) == before


def test_joiner_into_another_commune_is_refused(app, hub, browser, communes):
    url = hub + "/admin/people/new?lang=vi"
    csrf = csrf_of(browser.get(url).text)
    before = people_count(app)
    for step in ("preview", "confirm"):
        refused = browser.post(url, data={**joiner_form(csrf, unit_code="XA.BAC"), "step": step})
        assert refused.status_code == 422
        assert "Ngoài phạm vi quản trị của bạn" in refused.text
    assert people_count(app) == before


def test_a_form_without_csrf_writes_nothing(app, hub, browser, communes):
    before = people_count(app)
    response = browser.post(
        hub + "/admin/people/new", data={**joiner_form("forged"), "step": "confirm"}
    )
    assert response.status_code == 400
    assert people_count(app) == before


def _post_of(app, person_id: str) -> tuple[uuid.UUID, dt.date | None]:
    with app.extensions["idhub"].db.reading() as session:
        return session.execute(
            select(Assignment.id, Assignment.end_date).where(
                Assignment.person_id == uuid.UUID(person_id)
            )
        ).one()


def test_add_concurrent_post_end_post_change_position_leaver(app, api, hub, browser, communes):
    from tests.fixtures.factories import make_position

    make_position(api, code="PHO_CHU_TICH", name="Phó Chủ tịch")
    pid = communes.binh["id"]
    base = hub + f"/admin/people/{pid}"
    csrf = csrf_of(browser.get(base + "/posts/new").text)
    add = {
        "csrf_token": csrf,
        "unit_code": "XA.AN",
        "position_code": "PHO_CHU_TICH",
        "kind": "concurrent",
        "start_date": TODAY.isoformat(),
        "reason": "Kiêm nhiệm",
    }
    elsewhere = {**add, "unit_code": "XA.BAC", "step": "confirm"}
    refused = browser.post(base + "/posts/new?lang=vi", data=elsewhere)
    assert refused.status_code == 422 and "Ngoài phạm vi quản trị của bạn" in refused.text
    preview = browser.post(base + "/posts/new?lang=vi", data={**add, "step": "preview"})
    assert preview.status_code == 200 and "Kế hoạch đồng bộ" in preview.text
    assert (
        browser.post(
            base + "/posts/new", data={**add, "step": "confirm"}, allow_redirects=False
        ).status_code
        == 303
    )
    first = _post_of_position(app, pid, "CONG_CHUC")
    change = {
        "csrf_token": csrf,
        "position_code": "PHO_CHU_TICH",
        "start_date": TODAY.isoformat(),
        "reason": "Bổ nhiệm",
    }
    # Holding the new position already (the concurrent post): refused, per the rules.
    dup = browser.post(base + f"/posts/{first}/change?lang=vi", data={**change, "step": "confirm"})
    assert dup.status_code == 422
    end = {"csrf_token": csrf, "end_date": TODAY.isoformat(), "reason": "Hết nhiệm kỳ"}
    concurrent = _post_of_position(app, pid, "PHO_CHU_TICH")
    assert (
        browser.post(
            base + f"/posts/{concurrent}/end",
            data={**end, "step": "confirm"},
            allow_redirects=False,
        ).status_code
        == 303
    )
    leave = {
        "csrf_token": csrf,
        "end_date": (TODAY - dt.timedelta(days=1)).isoformat(),
        "reason": "Nghỉ hưu",
    }
    preview = browser.post(base + "/leave?lang=vi", data={**leave, "step": "preview"})
    assert preview.status_code == 200, preview.text
    plan = preview.text.split('id="plan"')[1].split("</section>")[0]
    assert "uid=binhtv," in plan  # the account as it will be (not yet in the directory)
    assert (
        browser.post(
            base + "/leave", data={**leave, "step": "confirm"}, allow_redirects=False
        ).status_code
        == 303
    )
    with app.extensions["idhub"].db.reading() as session:
        assert session.get(Person, uuid.UUID(pid)).status == PersonStatus.LEFT


def _post_of_position(app, person_id: str, code: str) -> str:
    from idhub.models import Position

    with app.extensions["idhub"].db.reading() as session:
        return str(
            session.scalar(
                select(Assignment.id)
                .join(Position, Position.id == Assignment.position_id)
                .where(Assignment.person_id == uuid.UUID(person_id), Position.code == code)
            )
        )


def test_actions_on_another_communes_person_are_404(app, hub, browser, communes):
    pid = communes.cuc["id"]
    post = _post_of(app, pid)[0]
    csrf = csrf_of(browser.get(hub + "/admin/people/new").text)
    for path in ("/posts/new", f"/posts/{post}/end", f"/posts/{post}/change", "/leave"):
        assert browser.get(hub + f"/admin/people/{pid}{path}").status_code == 404
        posted = browser.post(
            hub + f"/admin/people/{pid}{path}",
            data={
                "csrf_token": csrf,
                "step": "confirm",
                "end_date": TODAY.isoformat(),
                "reason": "x",
            },
        )
        assert posted.status_code == 404
    assert _post_of(app, pid)[1] is None


def test_end_sessions_needs_a_security_officer(app, hub, browser, person, communes):
    pid = communes.binh["id"]
    assert browser.get(hub + f"/admin/people/{pid}/sessions/end").status_code == 403
    grant(app, person["id"], "security_officer", communes.a["id"])
    page = browser.get(hub + f"/admin/people/{pid}/sessions/end?lang=vi")
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    empty = browser.post(
        hub + f"/admin/people/{pid}/sessions/end?lang=vi", data={"csrf_token": csrf, "reason": ""}
    )
    assert empty.status_code == 422
    preview = browser.post(
        hub + f"/admin/people/{pid}/sessions/end?lang=vi",
        data={"csrf_token": csrf, "reason": "Mất điện thoại", "step": "preview"},
    )
    assert "Sẽ kết thúc 0 phiên" in preview.text
    done = browser.post(
        hub + f"/admin/people/{pid}/sessions/end",
        data={"csrf_token": csrf, "reason": "Mất điện thoại", "step": "confirm"},
        allow_redirects=False,
    )
    assert done.status_code == 303
    assert browser.get(hub + f"/admin/people/{communes.cuc['id']}/sessions/end").status_code == 404


def test_home_lists_posts_starting_soon(app, api, hub, browser, communes):
    from tests.fixtures.factories import make_assignment, make_person

    soon = make_person(api, family_name="Vũ", middle_name="Thị", given_name="Hoa")
    make_assignment(
        api,
        soon,
        communes.a,
        communes.position,
        start_date=(TODAY + dt.timedelta(days=3)).isoformat(),
    )
    other = make_person(api, family_name="Đỗ", middle_name="Văn", given_name="Khang")
    make_assignment(
        api,
        other,
        communes.b,
        communes.position,
        start_date=(TODAY + dt.timedelta(days=3)).isoformat(),
    )
    page = browser.get(hub + "/admin?lang=vi")
    assert "Vũ Thị Hoa" in page.text
    assert "Đỗ Văn Khang" not in page.text


def test_home_lists_grants_ending_soon_in_scope(app, api, hub, browser, communes):
    from idhub.admin.grants import everywhere, grant_role
    from idhub.changes.chain import Actor
    from idhub.changes.context import HrContext

    hub_ = app.extensions["idhub"]
    with hub_.db.transaction() as session:
        ctx = HrContext(session=session, audit=hub_.audit, actor=Actor("cli", "test"))
        for who, unit in ((communes.binh, communes.a), (communes.cuc, communes.b)):
            grant_role(
                ctx,
                {
                    "person_id": uuid.UUID(who["id"]),
                    "role": "auditor",
                    "unit_id": uuid.UUID(unit["id"]),
                    "valid_from": TODAY - dt.timedelta(days=30),
                    "valid_to": TODAY + dt.timedelta(days=2),
                    "reason": "kiểm tra",
                },
                everywhere,
            )
    page = browser.get(hub + "/admin?lang=vi")
    section = page.text.split("Ủy quyền hết hạn trong 7 ngày tới")[1]
    assert "Vai trò quản trị Kiểm toán viên: Trần Văn Bình" in section
    assert "Lê Thị Cúc" not in section
