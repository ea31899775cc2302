"""Helpers for provisioning tests: run the real worker, look into the real directory."""

from __future__ import annotations

import threading
import time

import ldap
import ldap.filter

from idhub import services as runtime
from idhub.changes.guard import Guard
from idhub.engine.worker import Worker, WorkerSettings


def make_worker(app, **overrides) -> Worker:
    settings = app.extensions["idhub.settings"]
    section = {**settings["provisioning"], **overrides}
    return Worker(
        app.extensions["idhub.db"],
        app.extensions["idhub.audit"],
        runtime.ldap_connector(settings, app.extensions["idhub.keyring"]),
        app.extensions["idhub.rules"],
        base_dn=settings["ldap"]["base_dn"],
        settings=WorkerSettings.from_settings(section),
        guard=Guard.from_settings(section),
    )


def drain(app, rounds: int = 100) -> int:
    """Run worker rounds until the queue has nothing due; returns the jobs processed."""
    worker = make_worker(app)
    total = 0
    try:
        for _ in range(rounds):
            done = worker.run_once()
            if not done:
                return total
            total += done
    finally:
        worker.connector.close()
    raise AssertionError("the queue did not drain")


class BackgroundWorker:
    """The worker loop in a thread, as `idhub worker` runs it."""

    def __init__(self, app, **overrides) -> None:
        self.worker = make_worker(app, **overrides)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.worker.run, args=(self.stop,), daemon=True)

    def __enter__(self) -> BackgroundWorker:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def directory(app):
    conf = app.extensions["idhub.ldap_config"]
    conn = ldap.initialize(conf.url)
    conn.simple_bind_s(conf.bind_dn, conf.password)
    return conn


def entry(app, person_id: str) -> tuple[str, dict[str, list[str]]] | None:
    conf = app.extensions["idhub.ldap_config"]
    conn = directory(app)
    try:
        found = conn.search_s(
            conf.base_dn,
            ldap.SCOPE_SUBTREE,
            ldap.filter.filter_format("(idhubPersonId=%s)", [str(person_id)]),
            ["*", "memberOf"],
        )
    finally:
        conn.unbind_s()
    if not found:
        return None
    assert len(found) == 1, found
    dn, attrs = found[0]
    return dn, {k: [v.decode() for v in vals] for k, vals in attrs.items()}


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def groups_of(attrs: dict[str, list[str]]) -> set[str]:
    return {dn.split(",", 1)[0].split("=", 1)[1].lower() for dn in attrs.get("memberOf", [])}
