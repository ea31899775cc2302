"""The language links keep the page's query: switching language on the sign-in page of an
authorization request keeps the person in the flow, even after a wrong password (the page
then stands at /sso/login without its query, the request carried by the form's `next`)."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from tests.fixtures.sso import (
    PASSWORD,
    REDIRECT,
    authorize,
    code_at,
    form_fields,
    query_of,
    register_app,
)


def lang_link(page: requests.Response, lang: str) -> str:
    href = re.search(rf'<a href="([^"]*)" hreflang="{lang}">', page.text)
    assert href is not None, page.text
    return urljoin(page.url, html.unescape(href.group(1)))


def test_switching_language_while_signing_in_keeps_the_authorization_request(app, hub, person):
    registered = register_app(app)
    rp = OAuth2Session(
        registered.client_id,
        registered.client_secret or None,
        scope="openid profile",
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(48)
    browser = requests.Session()
    sent, state = authorize(hub, browser, rp, verifier=verifier, nonce="n-lang")
    assert sent.status_code in (302, 303) and "/sso/login?" in sent.headers["Location"]
    request_back = query_of(sent.headers["Location"])["next"]
    assert request_back.startswith("/oauth/authorize?")

    vietnamese = browser.get(urljoin(hub, sent.headers["Location"]))
    assert 'lang="vi"' in vietnamese.text
    english = browser.get(lang_link(vietnamese, "en"))
    assert english.status_code == 200 and 'lang="en"' in english.text and "Sign in" in english.text
    assert query_of(english.url)["next"] == request_back
    assert form_fields(english.text)["next"] == request_back

    # a wrong password: the page is now /sso/login (a POST's answer), its links still carry next
    wrong = browser.post(
        hub + "/sso/login",
        data={**form_fields(english.text), "username": person["username"], "password": "sai"},
    )
    assert wrong.status_code == 401 and 'lang="en"' in wrong.text
    back_in_vi = browser.get(lang_link(wrong, "vi"))
    assert 'lang="vi"' in back_in_vi.text
    assert form_fields(back_in_vi.text)["next"] == request_back

    # signing in from there continues the flow: the app gets its code
    signed = browser.post(
        hub + "/sso/login",
        data={**form_fields(back_in_vi.text), "username": person["username"], "password": PASSWORD},
        allow_redirects=False,
    )
    assert signed.status_code == 303, signed.text
    code_page = browser.get(hub + "/sso/login/code")
    done = browser.post(
        hub + "/sso/login/code",
        data={**form_fields(code_page.text), "code": code_at(person["secret"])},
        allow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["Location"] == request_back
    answered = browser.get(urljoin(hub, request_back), allow_redirects=False)
    assert answered.status_code == 302, answered.text
    location = answered.headers["Location"]
    assert location.startswith(REDIRECT) and query_of(location)["state"] == state
    token = rp.fetch_token(
        hub + "/oauth/token", authorization_response=location, code_verifier=verifier
    )
    assert token["access_token"]
