"""The same person signing in to the same app several times at once (tabs, a double
click, a retry): every sign-on succeeds, each code is still good only once, on SQLite and
PostgreSQL, over real HTTP against the live hub."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from sqlalchemy import func, select

from idhub.models import AuthorizationCode, Consent, OAuthToken
from tests.fixtures.sso import REDIRECT, form_fields, jwks_of, query_of, register_app

TABS = 8
SCOPE = "openid profile email org roles"


def _all_at_once(count: int, work: Callable[[int], Any]) -> list[Any]:
    """`work(i)` in `count` threads released together; every result or exception."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _tab(browser: requests.Session) -> requests.Session:
    """Another tab of the same browser: the same hub session cookie."""
    tab = requests.Session()
    tab.cookies.update(browser.cookies)
    return tab


def _rp(registered: Any) -> OAuth2Session:
    return OAuth2Session(
        registered.client_id,
        registered.client_secret,
        scope=SCOPE,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
    )


def _sign_on(hub: str, tab: requests.Session, registered: Any, i: int) -> dict:
    """One tab's whole sign-on: authorize (consent if asked) → code → tokens."""
    rp = _rp(registered)
    verifier = generate_token(48)
    uri, state = rp.create_authorization_url(
        hub + "/oauth/authorize", code_verifier=verifier, nonce=f"tab-{i}-{generate_token(8)}"
    )
    response = tab.get(uri, allow_redirects=False)
    if response.status_code == 200:  # the consent page of a third-party app
        response = tab.post(
            hub + "/oauth/authorize?" + uri.split("?", 1)[1],
            data={**form_fields(response.text), "decision": "allow"},
            allow_redirects=False,
        )
    assert response.status_code == 302, (response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert location.startswith(REDIRECT) and query_of(location)["state"] == state, location
    token = rp.fetch_token(
        hub + "/oauth/token", authorization_response=location, code_verifier=verifier
    )
    return {**token, "code": query_of(location)["code"], "verifier": verifier}


def _check_all_signed_on(hub: str, results: list[Any], registered: Any, person: dict) -> None:
    failures = [r for r in results if not isinstance(r, dict)]
    assert not failures, failures
    keys = jwks_of(hub)
    for token in results:
        claims = jwt.decode(token["id_token"], keys).claims
        assert claims["sub"] == person["id"] and claims["aud"] == [registered.client_id]


def test_one_person_one_app_many_tabs_at_once(app, hub, person, browser):
    """A first-party app opened in eight tabs within the same instant."""
    registered = register_app(app, name="Họp trực tuyến", first_party=True)
    results = _all_at_once(TABS, lambda i: _sign_on(hub, _tab(browser), registered, i))
    _check_all_signed_on(hub, results, registered, person)
    with app.extensions["idhub"].db.reading() as session:
        codes = session.scalar(
            select(func.count())
            .select_from(AuthorizationCode)
            .where(
                AuthorizationCode.client_id == registered.client_id,
                AuthorizationCode.used_at.is_not(None),
            )
        )
        tokens = session.scalar(
            select(func.count())
            .select_from(OAuthToken)
            .where(OAuthToken.client_id == registered.client_id, OAuthToken.revoked_at.is_(None))
        )
    # Every code was used once, and no tab's exchange was taken for a replay.
    assert codes == TABS and tokens == TABS
    # A code is still good only once: presented again, refused (and its tokens revoked).
    again = requests.post(
        hub + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": results[0]["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": results[0]["verifier"],
        },
        auth=(registered.client_id, registered.client_secret),
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text


def test_consent_given_in_several_tabs_at_once(app, hub, person, browser):
    """A third-party app: every tab shows the consent page, all are allowed together;
    one consent row, every sign-on goes through."""
    registered = register_app(app, name="Ứng dụng ngoài", first_party=False)
    rp = _rp(registered)
    pages = []
    tabs = [_tab(browser) for _ in range(TABS)]
    for i, tab in enumerate(tabs):
        verifier = generate_token(48)
        uri, state = rp.create_authorization_url(
            hub + "/oauth/authorize", code_verifier=verifier, nonce=f"consent-{i}"
        )
        page = tab.get(uri, allow_redirects=False)
        assert page.status_code == 200, page.text[:300]
        pages.append((uri, state, verifier, form_fields(page.text)))

    def allow(i: int) -> dict:
        uri, state, verifier, fields = pages[i]
        response = tabs[i].post(
            hub + "/oauth/authorize?" + uri.split("?", 1)[1],
            data={**fields, "decision": "allow"},
            allow_redirects=False,
        )
        assert response.status_code == 302, (response.status_code, response.text[:300])
        location = response.headers["Location"]
        assert query_of(location)["state"] == state, location
        return dict(
            _rp(registered).fetch_token(
                hub + "/oauth/token", authorization_response=location, code_verifier=verifier
            )
        )

    results = _all_at_once(TABS, allow)
    _check_all_signed_on(hub, results, registered, person)
    with app.extensions["idhub"].db.reading() as session:
        consents = session.scalar(
            select(func.count())
            .select_from(Consent)
            .where(Consent.client_id == registered.client_id)
        )
    assert consents == 1
