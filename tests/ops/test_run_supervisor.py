"""`idhub run` (what `make run` starts) heals itself: a worker killed with SIGKILL is
started again and converges the next joiner, slapd killed is started again on its data,
and SIGTERM still stops all of it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ldap
import ldap.filter
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from idhub.config import PROJECT_DIR
from idhub.ops.devstack import supervisor
from idhub.ops.devstack.ports import free_port
from idhub.ops.devstack.supervisor import Child, Supervisor
from tests.fixtures.factories import joiner_items
from tests.fixtures.provisioning import wait_for


def free_ports_in_a_row(count: int) -> int:
    """The first of `count` consecutive free ports (the hub's, then its example apps')."""
    for _ in range(50):
        first = free_port()
        try:
            for port in range(first, first + count):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise AssertionError("no free ports in a row")


def children_of(pid: int) -> dict[int, str]:
    """The live children of `pid`: their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == pid and stat[0] != "Z":
                found[int(entry.name)] = (entry / "cmdline").read_text().replace("\0", " ")
        except (OSError, IndexError):
            continue
    return found


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    env: dict
    output: list[str] = field(default_factory=list)

    def said(self, text: str) -> bool:
        return any(text in line for line in self.output)

    def child(self, marker: str) -> int | None:
        pids = [p for p, cmd in children_of(self.proc.pid).items() if marker in cmd]
        return pids[0] if pids else None

    def token(self, entry: str = "admin_client") -> str:
        client = self.env[entry]
        response = requests.post(
            f"{self.env['hub_url']}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["access_token"]

    def post(self, path: str, body: dict) -> dict:
        response = requests.post(
            f"{self.env['hub_url']}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def in_directory(self, person_id: str) -> bool:
        conf = self.env["ldap"]
        try:
            conn = ldap.initialize(conf["url"])
            conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 2.0)
            conn.simple_bind_s(conf["bind_dn"], conf["password"])
            flt = ldap.filter.filter_format("(idhubPersonId=%s)", [person_id])
            found = conn.search_s(conf["base_dn"], ldap.SCOPE_SUBTREE, flt, ["1.1"])
            conn.unbind_s()
        except ldap.LDAPError:
            return False
        return bool(found)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    http = free_ports_in_a_row(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDHUB_")}
    env |= {
        "IDHUB_VAR_DIR": str(tmp_path / "var"),
        "IDHUB_LDAP_URL": f"ldap://127.0.0.1:{free_port()}",
        "IDHUB_SERVER_PORT": str(http),
        "IDHUB_SERVER_PUBLIC_URL": f"http://127.0.0.1:{http}",
        "IDHUB_SERVER_WORKERS": "1",
        "IDHUB_DEV_MAIL_ENABLED": "false",
        "IDHUB_LOGGING_LEVEL": "WARNING",
        "IDHUB_LOGGING_FORMAT": "text",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "idhub.cli", "run", "--no-demo"],
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a Ctrl-C in the test run does not reach it
    )
    stack = Stack(proc, {})
    reader = threading.Thread(target=lambda: stack.output.extend(proc.stdout or ()), daemon=True)
    reader.start()
    env_json = tmp_path / "var" / "run" / "env.json"
    try:
        wait_for(lambda: env_json.exists() or proc.poll() is not None, timeout=180, interval=0.2)
        assert proc.poll() is None, "".join(stack.output)
        stack.env = json.loads(env_json.read_text())
        yield stack
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def joiner(stack: Stack, org: tuple[dict, dict], n: int) -> str:
    unit, position = org
    items = joiner_items(unit, position, 1, start=n)
    done = stack.post("/api/v1/batches", {"items": items, "reason": "QĐ 1/QĐ-UBND"})
    return next(i["id"] for i in done["items"] if i["op"] == "create_person")


def converged(stack: Stack) -> float:
    """The directory's converged jobs as the hub's /metrics sums them over its processes."""
    response = requests.get(
        stack.env["metrics_url"], headers={"Authorization": f"Bearer {stack.token()}"}, timeout=10
    )
    response.raise_for_status()
    return sum(
        s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
        if s.name == "idhub_converge_latency_seconds_count" and s.labels.get("target") == "ldap"
    )


def test_a_killed_worker_and_a_killed_slapd_are_started_again(stack: Stack) -> None:
    unit = stack.post(
        "/api/v1/org-units",
        {
            "code": "12",
            "name": "Ủy ban nhân dân tỉnh Lai Châu",
            "type": "province_committee",
            "valid_from": "2025-07-01",
            "mail_domain": "laichau.gov.vn",
        },
    )
    org = (unit, stack.post("/api/v1/positions", {"code": "CHUYEN_VIEN", "name": "Chuyên viên"}))
    first = joiner(stack, org, 0)
    # The national exchange's hand-over: its published keys, and a client that may list
    # exports and nothing more.
    national = stack.env["national"]
    assert requests.get(national["jwks_url"], timeout=10).json() == {"keys": []}
    exports = requests.get(
        f"{stack.env['hub_url']}/api/v1/national/exports",
        headers={"Authorization": f"Bearer {stack.token('national')}"},
        timeout=10,
    )
    assert exports.status_code == 200, exports.text
    people = requests.get(
        f"{stack.env['hub_url']}/api/v1/people",
        headers={"Authorization": f"Bearer {stack.token('national')}"},
        timeout=10,
    )
    assert people.status_code == 403
    wait_for(lambda: stack.in_directory(first), timeout=60, interval=0.2)
    # The example apps follow the people: the meetings app by the hub's signed change
    # events (docs/events.md), the documents app by the hub's outbound SCIM (docs/scim.md).
    kinds = [a["kind"] for a in stack.env["apps"]]
    assert kinds == ["documents", "meetings", "personnel"]
    documents, meetings = stack.env["apps"][0]["url"], stack.env["apps"][1]["url"]
    username = requests.get(
        f"{stack.env['hub_url']}/api/v1/people/{first}",
        headers={"Authorization": f"Bearer {stack.token()}"},
        timeout=10,
    ).json()["username"]

    def in_meetings() -> bool:
        users = requests.get(meetings + "/users", timeout=10).json()
        return first in {u["sub"] for u in users}

    def in_documents() -> bool:
        return username in requests.get(documents + "/users", timeout=10).text

    # The documents app serves SCIM (its users come from the hub's SCIM, not events).
    assert requests.get(documents + "/scim/v2/Users", timeout=10).status_code == 401

    wait_for(in_meetings, timeout=60, interval=0.2)
    wait_for(in_documents, timeout=60, interval=0.2)
    # The SCIM hand-over (env.json `scim`): an HR system's client reads the joiner.
    scim = stack.env["scim"]
    token = requests.post(
        f"{stack.env['hub_url']}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(scim["client_id"], scim["client_secret"]),
        timeout=10,
    ).json()["access_token"]
    found = requests.get(
        f"{scim['url']}/Users/{first}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert found.status_code == 200 and found.json()["active"] is True, found.text

    worker = stack.child("idhub.cli worker")
    assert worker is not None
    os.kill(worker, signal.SIGKILL)
    wait_for(
        lambda: stack.said("worker restarted") or stack.proc.poll() is not None,
        timeout=60,
        interval=0.2,
    )
    assert stack.proc.poll() is None, "".join(stack.output[-20:])  # not "…; stopping"
    assert stack.said("worker exited with status -9")
    again = stack.child("idhub.cli worker")
    assert again is not None and again != worker
    second = joiner(stack, org, 1)
    wait_for(lambda: stack.in_directory(second), timeout=60, interval=0.2)

    slapd = stack.child("slapd -f")
    assert slapd is not None
    os.kill(slapd, signal.SIGKILL)
    wait_for(lambda: stack.said("slapd restarted"), timeout=60, interval=0.2)
    assert stack.child("slapd -f") not in (None, slapd)
    assert stack.in_directory(first)  # on its data
    third = joiner(stack, org, 2)  # the worker waited out the outage by itself
    wait_for(lambda: stack.in_directory(third), timeout=60, interval=0.2)
    # The worker's counters reach the web's /metrics through the shared folder (metrics_url).
    wait_for(lambda: converged(stack) >= 2, timeout=30, interval=0.2)

    running = children_of(stack.proc.pid)  # gunicorn, the worker, slapd, the example apps
    assert len(running) >= 6, running
    stack.proc.send_signal(signal.SIGTERM)
    assert stack.proc.wait(timeout=60) == 0
    assert not [pid for pid in running if Path(f"/proc/{pid}").exists()], running


def test_a_process_that_keeps_dying_is_left_down_and_the_rest_keeps_running(monkeypatch):
    """Restarts back off, at most MAX_RESTARTS a minute; then the supervisor says so and
    leaves that one down, without touching the others."""
    monkeypatch.setattr(supervisor, "FIRST_DELAY_S", 0.05)
    said: list[str] = []
    crashing = Child("crasher", [sys.executable, "-c", "raise SystemExit(3)"], os.environ)
    steady = Child("steady", [sys.executable, "-c", "import time; time.sleep(60)"], os.environ)
    watcher = Supervisor(said.append)
    for child in (crashing, steady):
        child.start()
        watcher.watch(child)
    steady_pid = steady.pid
    try:
        wait_for(
            lambda: watcher.check() or any("left down" in m for m in said),
            timeout=30,
            interval=0.02,
        )
        restarted = [m for m in said if m.startswith("crasher restarted")]
        assert len(restarted) == supervisor.MAX_RESTARTS, said
        assert "crasher exited with status 3; restarting it in 0.1 s" in said[0]
        delays = [float(m.split(" in ")[1].split()[0]) for m in said if "restarting it in" in m]
        assert delays == sorted(delays) and delays[-1] > delays[0]  # backed off
        assert steady.alive() and steady.pid == steady_pid  # untouched
        for _ in range(20):
            watcher.check()
        assert not crashing.alive() and len([m for m in said if "left down" in m]) == 1
    finally:
        for child in (crashing, steady):
            child.terminate()
            child.wait(5)
