"""Fixtures of the sign-on tests: a live hub on loopback (issuer = its URL), fast argon2,
an activated person with a password and TOTP, a browser signed in as them, and the three
example apps."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests

from examples.rp_app import create_rp
from idhub.ops.backchannel import backchannel_worker
from tests.fixtures.sso import (
    FAST_SSO,
    PASSWORD,
    LiveServer,
    action_link,
    activate,
    hr_person,
    register_app,
    sign_in,
)

APPS = ("Văn bản", "Họp trực tuyến", "Nhân sự")


@pytest.fixture
def live():
    server = LiveServer()
    yield server
    if server.app is not None:
        server.stop()
    else:
        server.server.server_close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sso(**values): [sso] settings of the test's hub")
    config.addinivalue_line("markers", "server(**values): [server] settings of the test's hub")


@pytest.fixture
def settings(settings, live, request):
    """The hub's settings: fast argon2, the live URL as issuer, then the test's
    `@pytest.mark.sso(...)` values (bound when the app starts, so set here, not later)."""
    marker = request.node.get_closest_marker("sso")
    settings["sso"].update(FAST_SSO, issuer=live.url, **(marker.kwargs if marker else {}))
    server = request.node.get_closest_marker("server")
    settings["server"].update(server.kwargs if server else {})
    return settings


@pytest.fixture
def hub(app, live) -> Iterator[str]:
    """The live hub, with a worker delivering its back-channel logouts (as `idhub worker`
    does beside it in production)."""
    live.start(app)
    hub_ = app.extensions["idhub"]
    worker = backchannel_worker(hub_.db, hub_.audit, hub_.keyring, hub_.settings)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    yield live.url
    stop.set()
    thread.join(timeout=30)


@pytest.fixture
def person(api, app, hub) -> dict:
    """An active person with a password and TOTP, via the activation page."""
    found = hr_person(api, family_name="Đặng", middle_name="Thị", given_name="Ánh")
    secret, codes, response = activate(hub, action_link(app, found["id"]))
    assert response.status_code == 200, response.text
    assert len(codes) == 10
    found["secret"], found["recovery_codes"] = secret, codes
    return found


@pytest.fixture
def browser(hub, person) -> requests.Session:
    session = requests.Session()
    response = sign_in(hub, person["username"], PASSWORD, person["secret"], browser=session)
    assert response.status_code == 303, response.text
    return session


@pytest.fixture
def apps(app, hub):
    """The three example apps (examples/rp_app.py) on loopback, registered at the hub."""
    servers = []
    for name in APPS:
        server = LiveServer()
        registered = register_app(
            app,
            name=name,
            redirect_uris=[server.url + "/callback"],
            post_logout_redirect_uris=[server.url + "/"],
            backchannel_logout_uri=server.url + "/backchannel",
            scopes=["openid", "profile", "email", "org", "roles"],
        )
        rp = create_rp(name, server.url, hub, registered.client_id, registered.client_secret)
        servers.append(server.start(rp))
    yield [s.url for s in servers]
    for server in servers:
        server.stop()
