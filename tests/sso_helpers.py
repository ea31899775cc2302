"""Helpers for sign-on tests: a live hub on loopback, HR people, activation, browser sign-in."""

from __future__ import annotations

import html
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc.jwk import KeySet
from werkzeug.serving import make_server

from idhub.changes.chain import Actor
from idhub.models import Person
from idhub.oidc.clients import create_client
from idhub.oidc.credentials import issue_action_link
from tests.factories import make_assignment, make_person, make_position, make_unit

PASSWORD = "Núi cao sông dài 2026!"
REDIRECT = "http://127.0.0.1:9/cb"  # never contacted: tests read the Location header
# Fast argon2 in tests (production defaults are in config/idhub.toml).
FAST_SSO = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}


class LiveServer:
    """A WSGI server on 127.0.0.1 in a thread; the app is set after the port is known."""

    def __init__(self) -> None:
        self.app: Any = None
        self.server = make_server("127.0.0.1", 0, self._dispatch, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _dispatch(self, environ, start_response):  # type: ignore[no-untyped-def]
        return self.app(environ, start_response)

    def start(self, app) -> LiveServer:  # type: ignore[no-untyped-def]
        self.app = app
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


class Receiver:
    """An app's back-channel logout endpoint: records every POSTed logout token."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/backchannel"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _app(self, environ, start_response):  # type: ignore[no-untyped-def]
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = parse_qs(environ["wsgi.input"].read(size).decode())
        self.tokens.extend(body.get("logout_token", []))
        start_response("200 OK", [("Content-Type", "text/plain"), ("Cache-Control", "no-store")])
        return [b""]

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=10)


def hr_person(api, **fields: Any) -> dict:
    """A person with an open primary post (so their account is enabled)."""
    unit = make_unit(
        api, name="Sở Nội vụ tỉnh Lai Châu", type="department", mail_domain="snv.laichau.gov.vn"
    )
    position = make_position(api, name="Chuyên viên chính")
    person = make_person(api, **fields)
    make_assignment(api, person, unit, position)
    person["unit"] = unit
    person["position"] = position
    return person


def register_app(app, *, name: str = "Văn bản điện tử", **fields: Any):  # type: ignore[no-untyped-def]
    fields.setdefault("grant_types", ["authorization_code", "refresh_token"])
    fields.setdefault("redirect_uris", [REDIRECT])
    fields.setdefault("scopes", ["openid", "profile", "email", "org", "roles", "offline_access"])
    fields.setdefault("first_party", True)
    scopes = fields.pop("scopes")
    with app.extensions["idhub.db"].transaction() as session:
        return create_client(
            session,
            app.extensions["idhub.keyring"],
            app.extensions["idhub.audit"],
            Actor("cli", "pytest"),
            name=name,
            scopes=scopes,
            allowed_scopes=scopes + ["introspect", "hr:read"],
            **fields,
        )


def action_link(app, person_id: str, purpose: str = "activate", ttl_s: int = 3600) -> str:
    with app.extensions["idhub.db"].transaction() as session:
        person = session.get(Person, __import__("uuid").UUID(person_id))
        link = issue_action_link(
            session,
            app.extensions["idhub.keyring"],
            app.extensions["idhub.audit"],
            Actor("cli", "pytest"),
            person,
            purpose=purpose,
            ttl_s=ttl_s,
        )
    return link.path


def form_fields(page: str) -> dict[str, str]:
    return {
        m.group(1): html.unescape(m.group(2))
        for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


def code_at(secret: str, offset_steps: int = 0) -> str:
    """The code `offset_steps` 30-second steps from now. The hub accepts one step of
    drift, so a past step's code taken just before a boundary would be two steps old by
    the time the form reaches the server: wait for the boundary to pass first."""
    if offset_steps < 0 and 30 - time.time() % 30 < 3:
        time.sleep(30 - time.time() % 30 + 0.05)
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


def activate(base: str, path: str, password: str = PASSWORD, *, step: int = -1):  # type: ignore[no-untyped-def]
    """Drive the activation page: returns (TOTP secret, recovery codes, response)."""
    browser = requests.Session()
    page = browser.get(base + path)
    assert page.status_code == 200, page.text
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    response = browser.post(
        base + path,
        data={
            **form_fields(page.text),
            "password": password,
            "password2": password,
            "code": code_at(secret, step),
        },
    )
    codes = re.findall(r"<li><code>([0-9a-f]{8}-[0-9a-f]{8})</code></li>", response.text)
    return secret, codes, response


def sign_in(
    base: str,
    username: str,
    password: str,
    secret: str | None,
    *,
    step: int = 0,
    browser: requests.Session | None = None,
    next_url: str = "/sso/account",
) -> requests.Response:
    """Password, then the TOTP code; returns the last response (not following redirects)."""
    browser = browser or requests.Session()
    page = browser.get(base + "/sso/login", params={"next": next_url})
    response = browser.post(
        base + "/sso/login",
        data={**form_fields(page.text), "username": username, "password": password},
        allow_redirects=False,
    )
    if response.status_code != 303 or secret is None:
        return response
    page = browser.get(base + "/sso/login/code")
    return browser.post(
        base + "/sso/login/code",
        data={**form_fields(page.text), "code": code_at(secret, step)},
        allow_redirects=False,
    )


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


SCOPE = "openid profile email org roles offline_access"


def jwks_of(hub: str) -> KeySet:
    return KeySet.import_key_set(requests.get(hub + "/oauth/jwks").json())


def authorize(hub, browser, rp: OAuth2Session, *, verifier: str | None, **params):  # type: ignore[no-untyped-def]
    extra = {"code_verifier": verifier} if verifier else {}
    uri, state = rp.create_authorization_url(hub + "/oauth/authorize", **extra, **params)
    response = browser.get(uri, allow_redirects=False)
    return response, state


def code_flow(hub, browser, registered, *, nonce: str = "nonce-1", scope: str = SCOPE):  # type: ignore[no-untyped-def]
    rp = OAuth2Session(
        registered.client_id,
        registered.client_secret or None,
        scope=scope,
        redirect_uri=REDIRECT,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic" if registered.client_secret else "none",
    )
    verifier = generate_token(48)
    response, state = authorize(hub, browser, rp, verifier=verifier, nonce=nonce)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT) and query_of(location)["state"] == state
    token = rp.fetch_token(
        hub + "/oauth/token", authorization_response=location, code_verifier=verifier
    )
    return rp, token, location
