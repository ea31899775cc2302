"""/metrics: who may read it, what it counts, and the sum over gunicorn's workers.

Counters live in this process for the in-process tests (several apps share them), so each
test compares a value before and after what it does."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from connectors.base import InvalidData
from idhub import create_app
from idhub.changes.outbox import enqueue
from idhub.config import PROJECT_DIR
from idhub.engine.jobs import JobQueue
from idhub.engine.worker import WorkerSettings
from idhub.metrics import signed_in
from idhub.ops.devstack.ports import free_port
from tests.conftest import register_client, token_for
from tests.fixtures.factories import joiner_items, lai_chau
from tests.fixtures.provisioning import drain, wait_for
from tests.fixtures.sso import FAST_SSO, form_fields


def scrape_text(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and labels (the parser must read all of it)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 if none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def bearer(app, client, scopes: list[str]) -> dict[str, str]:
    registered = register_client(app, scopes, name=f"monitoring {' '.join(scopes)}")
    return {"Authorization": f"Bearer {token_for(client, registered)}"}


def scrape(client, headers: dict[str, str]) -> dict:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return scrape_text(response.get_data(as_text=True))


def test_metrics_need_a_token_with_the_metrics_or_admin_scope(app, client):
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.json["code"] == "missing_authorization"
    assert anonymous.json["request_id"]
    assert client.get("/metrics", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    lacking = client.get("/metrics", headers=bearer(app, client, ["hr:read"]))
    assert lacking.status_code == 403
    assert lacking.json["code"] == "insufficient_scope"
    samples = scrape(client, bearer(app, client, ["metrics"]))
    assert ("idhub_queue_depth", (("target", "ldap"),)) in samples
    scrape(client, bearer(app, client, ["admin"]))


def test_requests_are_timed_by_endpoint_never_by_path(app, client):
    headers = bearer(app, client, ["metrics", "hr:read"])
    before = scrape(client, headers)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    client.get("/api/v1/people/00000000-0000-0000-0000-000000000001", headers=headers)
    client.open("/healthz", method="BREW")  # any method a client makes up is "other"
    after = scrape(client, headers)
    name = "idhub_http_request_duration_seconds_count"
    healthz = {"endpoint": "health.healthz", "method": "GET"}
    assert value(after, name, **healthz) - value(before, name, **healthz) == 3
    assert value(after, "idhub_http_requests_total", status="2xx", **healthz) >= 3
    labels = {dict(ls).get("endpoint") for (n, ls), _ in after.items() if n == name}
    assert "people.PersonById" in labels or any(e and e.startswith("people.") for e in labels)
    assert not any(e and "/" in e for e in labels)
    methods = {dict(ls).get("method") for (n, ls), _ in after.items() if n == name}
    assert "BREW" not in methods


def test_tokens_are_counted_by_grant_type(app, client):
    headers = bearer(app, client, ["metrics"])
    before = value(scrape(client, headers), "idhub_tokens_issued_total")
    token_for(client, register_client(app, ["hr:read"]))
    after = scrape(client, headers)
    assert value(after, "idhub_tokens_issued_total") - before == 1
    assert value(after, "idhub_tokens_issued_total", grant_type="client_credentials") >= 1


def test_a_converged_joiner_is_timed_and_leaves_the_queue_empty(app, client, api):
    headers = bearer(app, client, ["metrics"])
    org = lai_chau(api)
    name = "idhub_converge_latency_seconds_count"
    before = scrape(client, headers)
    items = joiner_items(org["dept"], org["specialist"], 2)
    assert (
        api.post("/api/v1/batches", {"items": items, "reason": "QĐ 7/QĐ-UBND"}).status_code == 200
    )
    queued = scrape(client, headers)
    assert value(queued, "idhub_queue_depth", target="ldap") >= 2
    assert value(queued, "idhub_queue_oldest_job_age_seconds", target="ldap") >= 0
    assert drain(app) >= 2
    after = scrape(client, headers)
    assert value(after, name, target="ldap") - value(before, name, target="ldap") >= 2
    assert value(after, "idhub_queue_depth", target="ldap") == 0
    assert value(after, "idhub_queue_oldest_job_age_seconds", target="ldap") == 0
    assert value(after, "idhub_queue_jobs", target="ldap", state="failed") == 0


def test_a_failed_sign_in_is_counted(settings):
    settings["sso"].update(FAST_SSO)
    app = create_app(settings)
    client = app.test_client()
    headers = bearer(app, client, ["metrics"])
    before = scrape(client, headers)
    page = client.get("/sso/login")
    fields = form_fields(page.get_data(as_text=True))
    wrong = client.post(
        "/sso/login", data={**fields, "username": "khong.co.ai", "password": "sai mật khẩu"}
    )
    assert wrong.status_code == 401
    after = scrape(client, headers)
    name = "idhub_signins_total"
    assert value(after, name, result="failed") - value(before, name, result="failed") == 1
    assert value(after, name, result="ok") == value(before, name, result="ok")


# -- gunicorn: several workers, one sum -----------------------------------------------------
def _config(settings: dict[str, Any], path: Path) -> Path:
    """The test's settings as an IDHUB_CONFIG file (only what differs from the defaults)."""
    ldap = settings["ldap"]
    path.write_text(
        f'var_dir = "{settings["var_dir"]}"\n'
        f'[database]\nurl = "{settings["database"]["url"]}"\n'
        f'[ldap]\nurl = "{ldap["url"]}"\nbase_dn = "{ldap["base_dn"]}"\n'
        f'bind_dn = "{ldap["bind_dn"]}"\npassword = "{ldap["password"]}"\n'
        '[logging]\nlevel = "WARNING"\nformat = "json"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture
def served(app, settings, tmp_path) -> Any:
    """`idhub serve` with two gunicorn workers on a free port, on the test's database."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDHUB_", "PROMETHEUS_"))}
    env["IDHUB_CONFIG"] = str(_config(settings, tmp_path / "idhub.toml"))
    argv = [sys.executable, "-m", "idhub.cli", "serve", "--bind", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(
        [*argv, "--workers", "2"], env=env, cwd=PROJECT_DIR, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert proc.poll() is None, "idhub serve exited"
        try:  # not /healthz, whose count the test checks: a timed-out poll may still count
            return requests.get(url + "/", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(answering, timeout=60, interval=0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _writers(folder: Path) -> set[str]:
    """The processes that wrote counters into the multiprocess folder."""
    return {p.stem.rpartition("_")[2] for p in folder.glob("counter_*.db")}


def test_counts_are_summed_over_gunicorn_workers(app, settings, served):
    registered = register_client(app, ["metrics"])
    token = requests.post(
        served + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(registered.client_id, registered.client_secret),
        timeout=10,
    ).json()["access_token"]
    folder = Path(settings["var_dir"]) / "metrics"
    sent = 0
    with ThreadPoolExecutor(4) as pool:  # concurrent: a busy worker leaves some to the other
        for _ in range(50):
            answers = list(
                pool.map(lambda _n: requests.get(served + "/healthz", timeout=10), range(8))
            )
            assert all(a.status_code == 200 for a in answers)
            sent += len(answers)
            if len(_writers(folder)) >= 2:
                break
    assert len(_writers(folder)) >= 2, "only one gunicorn worker answered"
    response = requests.get(
        served + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    samples = scrape_text(response.text)
    name = "idhub_http_request_duration_seconds_count"
    # Every worker's requests, once each: the sum over both processes' files.
    assert value(samples, name, endpoint="health.healthz") == sent
    assert value(samples, "idhub_tokens_issued_total", grant_type="client_credentials") == 1


def _family(sample_name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if sample_name.endswith(suffix):
            return sample_name.removesuffix(suffix)
    return sample_name


def test_the_dashboard_and_the_doc_name_only_what_the_hub_exports(app, client):
    text = client.get("/metrics", headers=bearer(app, client, ["metrics"])).get_data(as_text=True)
    exported = {family.name for family in text_string_to_metric_families(text)}
    dashboard = json.loads((PROJECT_DIR / "docs" / "grafana-idhub.json").read_text())
    used = {_family(n) for n in re.findall(r"idhub_[a-z_]+", json.dumps(dashboard["panels"]))}
    assert used and used - exported == set()
    documented = re.findall(
        r"^\| `(idhub_[a-z_]+)`", (PROJECT_DIR / "docs" / "metrics.md").read_text(), re.M
    )
    assert {_family(n) for n in documented} == exported - {
        f for f in exported if not f.startswith("idhub_")
    }


def test_refused_jobs_are_counted_failed_or_parked_and_shown_in_the_queue(app, client):
    """A target refusing data: one target error of its kind, the job parked, the gauge
    showing it; then one the worker retries: failed, back in the queue."""
    hub = app.extensions["idhub"]
    headers = bearer(app, client, ["metrics"])
    before = scrape(client, headers)
    queue = JobQueue(hub.db, "ldap", "test-worker", WorkerSettings())
    with hub.db.transaction() as session:
        enqueue(session, [uuid.uuid4(), uuid.uuid4()], "test")
    parked, retried = queue.claim()
    with hub.db.transaction() as session:
        jobs = queue.owned(session, [parked.id])
        queue.requeue_failed(session, jobs, InvalidData("no such attribute"))
    with hub.db.transaction() as session:
        jobs = queue.owned(session, [retried.id])
        queue.requeue(session, jobs, "busy", park=False, kind="Busy")
    after = scrape(client, headers)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("idhub_jobs_parked_total", target="ldap") == 1
    assert delta("idhub_jobs_failed_total", target="ldap") == 1
    assert delta("idhub_target_errors_total", target="ldap", kind="InvalidData") == 1
    assert delta("idhub_target_errors_total", target="ldap", kind="Busy") == 1
    assert value(after, "idhub_queue_jobs", target="ldap", state="failed") == 1
    assert value(after, "idhub_queue_jobs", target="ldap", state="pending") == 1
    assert value(after, "idhub_queue_depth", target="ldap") == 1
    assert value(after, "idhub_queue_oldest_job_age_seconds", target="ldap") > 0


def test_a_change_counts_when_it_commits_and_not_if_it_rolls_back(app):
    db = app.extensions["idhub"].db

    def failed() -> float:
        return REGISTRY.get_sample_value("idhub_signins_total", {"result": "failed"}) or 0.0

    start = failed()
    with pytest.raises(RuntimeError), db.transaction() as session:
        signed_in("failed", session)
        raise RuntimeError("the change is rolled back")
    assert failed() == start
    with db.transaction() as session:
        signed_in("failed", session)
        assert failed() == start  # not before the commit
    assert failed() == start + 1
    with db.transaction() as session:  # the next transaction does not count it again
        pass
    assert failed() == start + 1
