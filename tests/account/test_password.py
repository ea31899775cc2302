"""Change password at /account/password: the rules (length, no own names, not common),
the current password checked like a sign-in (and counted toward the lockout), one
audited transaction with the directory's copy queued, other sessions ended on request."""

from __future__ import annotations

import requests

from idhub.oidc.passwords import guessable
from tests.account.helpers import NEW_PASSWORD, credential_of, events, pair_failures, post_form
from tests.fixtures.sso import PASSWORD, form_fields, sign_in

PAGE, ACTION = "/account/password", "/account/password"


def _change(browser, hub, current=PASSWORD, new=NEW_PASSWORD, again=None, **extra):  # type: ignore[no-untyped-def]
    return post_form(
        browser, hub, PAGE, ACTION, current=current, password=new, password2=again or new, **extra
    )


def test_the_rules_refuse_short_own_names_and_common_passwords(app, hub, person, browser):
    page = browser.get(hub + PAGE, headers={"Accept-Language": "vi"})
    assert page.status_code == 200 and "Mật khẩu hiện tại" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    refused = {
        "Ngắn 2027": "ít nhất 12 ký tự",
        "Dang Thi Anh yeu nui 2027": "không được chứa họ, tên",  # folded: Đặng → dang
        person["username"] + " ở nhà 2027": "không được chứa họ, tên",
        "password12345": "quá phổ biến",
        "qwertyuiop1234": "quá phổ biến",
        "1q2w3e4r5t6y": "quá phổ biến",
        "Password123456": "quá phổ biến",
    }
    for new, message in refused.items():
        response = _change(browser, hub, new=new)
        assert response.status_code == 400, new
        assert message in response.text, (new, response.text)
    assert _change(browser, hub, again="something else entirely").status_code == 400
    assert _change(browser, hub, new=PASSWORD).status_code == 400  # the same one
    assert pair_failures(app, person["id"]) == 0  # refused before the current one is checked
    # A passphrase of ordinary words passes, Vietnamese or folded.
    assert not guessable("núi cao sông dài mây trắng")
    assert not guessable("nui cao song dai may trang")


def test_a_wrong_current_password_counts_toward_the_lockout(app, hub, person, browser):
    for _ in range(5):
        wrong = _change(browser, hub, current="Không phải mật khẩu 99")
        assert wrong.status_code == 401 and "Mật khẩu hiện tại không đúng" in wrong.text
    assert pair_failures(app, person["id"]) == 5
    # The pair (this account, this address) is now locked, like a sign-in's: even the
    # right current password is refused for now, and so is a sign-in from here.
    assert _change(browser, hub).status_code == 401
    assert sign_in(hub, person["username"], PASSWORD, None).status_code == 401
    changes = events(app, "sso.password.set", person["id"])
    assert not [e for e in changes if "account/password" in (e.reason or "")]


def test_anonymous_and_forged_requests_are_refused(hub, person, browser):
    anonymous = requests.get(hub + PAGE, allow_redirects=False)
    assert (
        anonymous.status_code == 303
        and "/sso/login?next=%2Faccount%2Fpassword" in (anonymous.headers["Location"])
    )
    forged = browser.post(
        hub + ACTION,
        data={"current": PASSWORD, "password": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert forged.status_code == 400
    assert sign_in(hub, person["username"], PASSWORD, person["secret"], step=1).status_code == 303


def test_a_change_is_audited_queued_for_the_directory_and_ends_other_sessions(
    app, hub, person, browser
):
    other = requests.Session()
    assert (
        sign_in(hub, person["username"], PASSWORD, person["secret"], step=1, browser=other)
    ).status_code == 303
    assert other.get(hub + "/account", allow_redirects=False).status_code == 200
    done = _change(browser, hub, end_others="1")
    assert done.status_code == 200, done.text
    assert "Đã đổi mật khẩu" in done.text
    [event] = events(app, "sso.password.set", person["id"])[-1:]
    assert event.actor_type == "person" and event.actor_id == person["id"]
    assert "account/password" in (event.reason or "")
    assert credential_of(app, person["id"]).directory_password_pending_at is not None
    ended = events(app, "sso.sessions.end", person["id"])
    assert ended and ended[-1].after["sessions"] == 1
    # This browser stays signed in; the other one is out.
    assert browser.get(hub + "/account", allow_redirects=False).status_code == 200
    assert other.get(hub + "/account", allow_redirects=False).status_code == 303
    # The new password signs in, the old one no longer.
    assert sign_in(hub, person["username"], PASSWORD, None).status_code == 401
    assert sign_in(hub, person["username"], NEW_PASSWORD, None).status_code == 303


def test_without_ending_other_sessions_they_stay(app, hub, person, browser):
    other = requests.Session()
    sign_in(hub, person["username"], PASSWORD, person["secret"], step=1, browser=other)
    page = browser.get(hub + PAGE, headers={"Accept-Language": "en"})
    assert "End my other sessions" in page.text
    done = browser.post(
        hub + ACTION,
        data={
            **form_fields(page.text),
            "current": PASSWORD,
            "password": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
        headers={"Accept-Language": "en"},
    )
    assert done.status_code == 200 and "Your password has been changed" in done.text
    assert other.get(hub + "/account", allow_redirects=False).status_code == 200
