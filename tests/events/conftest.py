"""Fixtures of the change-event tests: the sign-on tests' live hub (tests/oidc), an
events worker running beside it as `idhub worker` runs it, and an example app
(examples/rp_app.py) registered at the hub and subscribed to its events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from flask import Flask

from examples.rp_app import create_rp
from idhub.events.target import events_worker
from tests.fixtures.sso import LiveServer, register_app
from tests.oidc.conftest import hub, live, settings  # noqa: F401 - the live hub

__all__ = ["hub", "live", "settings"]


@dataclass
class EventsApp:
    client_id: str
    url: str
    secret: str
    rp: Flask
    server: LiveServer

    def users(self) -> dict[str, dict]:
        return {u["sub"]: u for u in requests.get(self.url + "/users", timeout=10).json()}


def subscribe(admin, client_id: str, url: str, types: list[str] | None = None) -> dict:
    body: dict = {"url": url}
    if types is not None:
        body["types"] = types
    response = admin.client.put(
        f"/api/v1/events/subscriptions/{client_id}", json=body, headers=admin._headers(None)
    )
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def events_running(app, hub) -> Iterator[None]:
    """The hub's events worker, in a thread (a `run` loop: claims, backoff, outages)."""
    worker = events_worker(app.extensions["idhub"])
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


@pytest.fixture
def documents(app, hub, admin) -> Iterator[EventsApp]:
    """The documents app ("Văn bản", client id `document`, gated by the rules' roles),
    taking every event type at its /events receiver."""
    server = LiveServer()
    registered = register_app(
        app,
        name="Văn bản",
        client_id="document",
        redirect_uris=[server.url + "/callback"],
    )
    secret = subscribe(admin, registered.client_id, server.url + "/events")["secret"]
    assert secret.startswith("whsec_")
    rp = create_rp(
        "Văn bản", server.url, hub, registered.client_id, registered.client_secret, secret
    )
    server.start(rp)
    yield EventsApp(registered.client_id, server.url, secret, rp, server)
    server.stop()
