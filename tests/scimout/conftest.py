"""Fixtures of the outbound SCIM tests: the documents example app (examples/rp_app.py
with examples/scim_app.py mounted) on a fixed loopback port, that can be stopped, made to
fail or to answer late, and started again on the same port with the users it kept."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from examples.rp_app import create_rp
from examples.scim_app import FileStorage, mount, users_of
from idhub.changes.outbox import SCIM_TARGET
from idhub.engine.worker import Worker, WorkerSettings, new_worker_id
from idhub.models import JobState, ProvisioningJob
from idhub.ops.devstack.ports import free_port
from idhub.scimout.target import ScimTarget
from idhub.services import ProvisioningSettings
from tests.fixtures.sso import register_app

TOKEN = "scim-token-of-the-documents-app"


class DocumentsApp:
    """The documents app on 127.0.0.1:<port>; `mode` makes its SCIM answer 500 ("fail")
    or create and then answer too late ("late": the create happened, the hub timed out)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port("127.0.0.1")
        self.url = f"http://127.0.0.1:{self.port}"
        self.folder = folder
        self.server: Any = None
        self.storage: FileStorage | None = None
        self.mode = "ok"
        self.late_s = 0.0
        self.posts = 0
        self.group_patches = 0

    def up(self) -> None:
        rp = create_rp("Văn bản", self.url, "http://127.0.0.1:9", "document", "secret")
        self.storage = mount(rp, TOKEN, self.folder)  # a fresh app: users read back
        inner = rp.wsgi_app

        def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
            scim = environ["PATH_INFO"].startswith("/scim/")
            if scim and self.mode == "fail":
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"down for maintenance"]
            if environ["PATH_INFO"] == "/scim/v2/Users" and environ["REQUEST_METHOD"] == "POST":
                self.posts += 1
                body = list(inner(environ, start_response))
                if self.mode == "late":
                    time.sleep(self.late_s)
                return body
            if environ["PATH_INFO"].startswith("/scim/v2/Groups/") and (
                environ["REQUEST_METHOD"] == "PATCH"
            ):
                self.group_patches += 1
            return inner(environ, start_response)

        self.server = make_server("127.0.0.1", self.port, wsgi, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def users(self) -> dict[str, dict[str, Any]]:
        """The app's users by userName (read from its storage, as its /users page is)."""
        assert self.storage is not None
        return {u["userName"]: u for u in users_of(self.storage)}

    def groups(self) -> dict[str, set[str]]:
        """The app's groups by externalId (a unit code, "role:…" for a role's group): their
        members' userNames."""
        assert self.storage is not None
        names = {u["id"]: u["userName"] for u in users_of(self.storage)}
        return {
            g["externalId"]: {names.get(m["value"], m["value"]) for m in g.get("members") or []}
            for g in self.group_resources()
        }

    def group_names(self) -> dict[str, str]:
        """The app's groups' displayName by externalId (exactly as stored there)."""
        return {g["externalId"]: g["displayName"] for g in self.group_resources()}

    def group_resources(self) -> list[dict[str, Any]]:
        assert self.storage is not None
        found = []
        for resource in self.storage.resources:
            data = resource.model_dump(mode="json")
            if "urn:ietf:params:scim:schemas:core:2.0:Group" in data.get("schemas", []):
                found.append(data)
        assert len({g["externalId"] for g in found}) == len(found), "a group made twice"
        return found

    def page(self) -> str:
        return requests.get(self.url + "/users", timeout=10).text


@pytest.fixture
def documents(app, admin, tmp_path) -> Iterator[DocumentsApp]:
    register_app(app, name="Văn bản", client_id="document")
    docs = DocumentsApp(tmp_path / "documents")
    docs.up()
    yield docs
    docs.down()


def subscribe(admin, docs: DocumentsApp, **audience: Any) -> None:
    body = {"url": docs.url + "/scim/v2", "token": TOKEN, **audience}
    response = admin.client.put(
        "/api/v1/clients/document/scim", json=body, headers=admin._headers(None)
    )
    assert response.status_code == 200, response.json


def scim_worker(app, timeout_s: float = 5.0) -> Worker:
    hub = app.extensions["idhub"]
    settings = WorkerSettings.from_settings(hub.settings.section(ProvisioningSettings))
    target = ScimTarget(hub, settings.max_attempts, timeout_s=timeout_s)
    return Worker(hub.db, hub.audit, target, settings=settings, worker_id=new_worker_id("scim:"))


def queued(app) -> int:
    with app.extensions["idhub"].db.reading() as session:
        count = session.scalar(
            select(func.count())
            .select_from(ProvisioningJob)
            .where(ProvisioningJob.target == SCIM_TARGET, ProvisioningJob.state == JobState.PENDING)
        )
        return count or 0


def run_rounds(app, until: Callable[[], bool], timeout: float = 60.0, **kw: Any) -> None:
    """Fresh SCIM workers (each a restart: nothing in memory) until `until()`."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "the SCIM target never settled"
        worker = scim_worker(app, **kw)
        try:
            worker.run_once()
        finally:
            worker.close()
        time.sleep(0.05)
