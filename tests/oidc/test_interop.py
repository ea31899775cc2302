"""Interoperability (#17 weakness 15): userinfo takes the access token in a POST form body
(RFC 6750 §2.2, pyoidc's default); the sessions page shows Vietnam's time, not UTC."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select

from idhub.models import SsoSession
from tests.fixtures.sso import code_flow, register_app


def test_userinfo_takes_the_token_in_a_form_body(app, hub, browser, person):
    _, token, _ = code_flow(hub, browser, register_app(app), scope="openid profile")
    posted = requests.post(hub + "/oauth/userinfo", data={"access_token": token["access_token"]})
    assert posted.status_code == 200, posted.text
    assert posted.json()["sub"] == person["id"]
    # Still refused: in the query string (it would reach the access log), a bad token, and
    # both a header and a body at once (RFC 6750 §2: one method only).
    query = requests.get(hub + "/oauth/userinfo", params={"access_token": token["access_token"]})
    assert query.status_code == 401
    bad = requests.post(hub + "/oauth/userinfo", data={"access_token": "nope"})
    assert bad.status_code == 401
    both = requests.post(
        hub + "/oauth/userinfo",
        data={"access_token": token["access_token"]},
        headers={"Authorization": "Bearer " + token["access_token"]},
    )
    assert both.status_code == 400


def test_sessions_page_shows_vietnam_time(app, hub, browser, person):
    page = browser.get(hub + "/account/sessions")
    assert page.status_code == 200
    with app.extensions["idhub"].db.transaction() as session:
        created = session.scalar(select(SsoSession.created_at).where(SsoSession.ended_at.is_(None)))
    local = created.astimezone(ZoneInfo("Asia/Ho_Chi_Minh"))
    assert local.utcoffset() == dt.timedelta(hours=7)
    line = re.search(r'<li data-session="[^"]+">([^<]*)', page.text).group(1)
    assert local.strftime("%H:%M %d/%m/%Y") in line, line
    assert "UTC+7" in line and " UTC " not in line
