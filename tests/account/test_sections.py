"""My apps, my sessions (moved from /sso/account) and my mailbox: read-only pages for the
signed-in person, each showing only what is theirs."""

from __future__ import annotations

import dataclasses
import datetime as dt

import requests

from provisioning.rules import Role
from tests.fixtures.sso import PASSWORD, form_fields, hr_person, register_app, sign_in


def test_my_apps_lists_the_sign_on_apps_the_person_may_open(app, hub, person, browser):
    hub_ = app.extensions["idhub"]
    roles = dict(hub_.rules.roles)
    roles["auditor"] = Role("auditor", app_roles=("audit:viewer",))  # no one here holds it
    hub_.rules = dataclasses.replace(hub_.rules, roles=roles)
    register_app(
        app,
        name="Văn bản điện tử",
        client_id="document",
        redirect_uris=["https://vanban.laichau.gov.vn/callback"],
    )
    register_app(
        app,
        name="Kiểm toán nội bộ",
        client_id="audit",
        redirect_uris=["https://kiemtoan.laichau.gov.vn/cb"],
    )
    register_app(
        app,
        name="Lịch công tác",
        client_id="calendar-app",
        redirect_uris=["https://lich.laichau.gov.vn/oidc/cb"],
        client_uri="https://lich.laichau.gov.vn/trang-chu",
    )
    register_app(
        app,
        name="Đồng bộ",
        client_id="sync-job",
        grant_types=["client_credentials"],
        redirect_uris=[],
    )
    page = browser.get(hub + "/account/apps", headers={"Accept-Language": "vi"})
    assert page.status_code == 200
    # Gated by a role the person holds (staff: document:user), with the role shown.
    assert (
        '<a href="https://vanban.laichau.gov.vn/" rel="noopener">Văn bản điện tử</a>' in page.text
    )
    assert "vai trò: user" in page.text
    # Open to every staff member (no role in the rules names it).
    home = "https://lich.laichau.gov.vn/trang-chu"  # its client_uri
    assert f'<a href="{home}" rel="noopener">Lịch công tác</a>' in page.text
    # Gated by a role the person lacks; a machine client: not listed.
    assert "Kiểm toán nội bộ" not in page.text and "Đồng bộ" not in page.text
    assert requests.get(hub + "/account/apps", allow_redirects=False).status_code == 303


def test_sso_account_moved_to_account_sessions(app, hub, person, browser):
    moved = browser.get(hub + "/sso/account", allow_redirects=False)
    assert moved.status_code == 301 and moved.headers["Location"].endswith("/account/sessions")
    page = browser.get(hub + "/sso/account")  # followed
    assert page.url.endswith("/account/sessions") and "data-session=" in page.text
    assert 'aria-current="page"' in page.text  # in the account's navigation
    other = requests.Session()
    sign_in(hub, person["username"], PASSWORD, person["secret"], step=1, browser=other)
    page = browser.get(hub + "/account/sessions")
    assert page.text.count("data-session=") == 2
    # The old form address still ends sessions (308 keeps the POST and its token).
    ended = browser.post(
        hub + "/sso/account/sessions/end", data={**form_fields(page.text), "session": "all"}
    )
    assert ended.status_code == 200 and "/sso/login?" in ended.url
    assert other.get(hub + "/account", allow_redirects=False).status_code == 303
    forged = requests.post(
        hub + "/account/sessions/end", data={"session": "all"}, allow_redirects=False
    )
    assert forged.status_code == 303  # not signed in: to the sign-in page, nothing ended


def test_my_mailbox_shows_address_quota_and_delegations(app, api, hub, person, browser):
    deputy = hr_person(api, family_name="Lò", middle_name="Văn", given_name="Pằn")
    boss = hr_person(api, family_name="Hoàng", middle_name="Thị", given_name="Dung")
    today = dt.date.today()
    for owner, to in ((person, deputy), (boss, person)):
        made = api.post(
            f"/api/v1/people/{owner['id']}/mail-delegations",
            {
                "deputy_id": to["id"],
                "start_date": today.isoformat(),
                "end_date": (today + dt.timedelta(days=7)).isoformat(),
                "reason": "Đi công tác",
            },
        )
        assert made.status_code == 201, made.json
    page = browser.get(hub + "/account/mailbox", headers={"Accept-Language": "vi"})
    assert page.status_code == 200
    assert f"{person['username']}@snv.laichau.gov.vn" in page.text
    assert "2.0 GiB" in page.text  # the staff quota class
    given = page.text.split('class="delegations given"')[1].split("</ul>")[0]
    received = page.text.split('class="delegations received"')[1].split("</ul>")[0]
    assert "Lò Văn Pằn" in given and "đang hiệu lực" in given
    assert "Hoàng Thị Dung" in received
    assert "<form" not in page.text.split("</nav>", 2)[-1]  # read-only
