"""The SCIM server: `python -m bench scim`.

A hub on SQLite with one `idhub worker` process and a throwaway slapd (the provisioning
benchmark's set-up: a province committee, 20 communes, one position). Measured in one run,
through the app's own test client (no network):

* rest_batch_creates_per_s: `--people` joiners (person + primary post) through the REST
  batch path (POST /api/v1/batches, `--batch` joiners a request), from the first request
  until the worker has converged every one into slapd;
* creates_per_s: as many joiners through SCIM's batch form, POST /Bulk with `--batch`
  POST /Users operations a request (a Bulk of joiners only takes the REST batch path's
  set-based checks in one savepoint), until converged;
* single_creates_per_s: as many again, one POST /Users each (the REST API's one-at-a-time
  service functions: create_person, create_assignment; audit, converge jobs), converged;
* creates_ratio_to_rest_batch: creates_per_s / rest_batch_creates_per_s (goal ≥ 0.5), and
  single_creates_ratio_to_rest_batch likewise;
* users_list_per_s: Users rendered per second by GET /Users?count=100, paging through
  everyone (filter- and subtree-free: the incremental sync's first run);
* filtered_get_per_s: requests per second of GET /Users?filter=userName eq "…";
* outbound (idhub/scimout): the documents example app (examples/scim_app.py, scim2-server,
  on loopback in this process) subscribed by SCIM: push_backfill_per_s, everyone already
  there sent to it (the subscription's first run); push_people_per_s, `--people` more
  joiners through the REST batch path until converged into slapd *and* created in the
  app through the target, and push_ratio_to_rest_batch against the REST batch rate above.

Results: bench/results/scim.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench.provisioning import (
    BASE,
    FAMILY,
    GIVEN,
    MIDDLE,
    WARMUP,
    Hub,
    national_id,
    stop_workers,
    wait_for_empty_queue,
)
from idhub.changes.chain import Actor
from idhub.oidc.clients import create_client
from idhub.ops.devstack.slapd import Slapd

RESULTS = Path(__file__).resolve().parent / "results" / "scim.json"
PREFIX = "/scim/v2"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
HUB = "urn:ietf:params:scim:schemas:extension:idhub:2.0:User"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


class ScimHub(Hub):
    def __init__(self, workdir: Path, server: Slapd) -> None:
        super().__init__(workdir, server, None)
        hub = self.app.extensions["idhub"]
        with self.db.transaction() as session:
            new = create_client(
                session, hub.keyring, hub.audit, Actor("cli", "bench"), name="HR (SCIM)",
                scopes=["scim:read", "scim:write"], allowed_scopes=["scim:read", "scim:write"],
            )  # fmt: skip
        token = self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(new.client_id, new.client_secret),
        ).json["access_token"]
        self.scim_headers = {
            "Authorization": f"Bearer {token}", "Content-Type": "application/scim+json",
        }  # fmt: skip

    def scim_user(self) -> dict[str, Any]:
        n = self.serial
        self.serial += 1
        return {
            "schemas": [USER, HUB],
            "userName": f"hr-{n}",
            "name": {
                "familyName": FAMILY[n % len(FAMILY)],
                "middleName": MIDDLE[n // len(FAMILY) % len(MIDDLE)],
                "givenName": GIVEN[n // (len(FAMILY) * len(MIDDLE)) % len(GIVEN)],
            },
            HUB: {
                "nationalId": national_id(n),
                "posts": [{"unitCode": f"C{n % len(self.units):03d}",
                           "positionCode": "CHUYEN_VIEN", "kind": "primary",
                           "startDate": "2025-07-01"}],
            },
        }  # fmt: skip

    def scim(self, method: str, path: str, body: Any = None) -> Any:
        response = self.client.open(
            PREFIX + path, method=method, json=body, headers=self.scim_headers
        )
        assert response.status_code in (200, 201), (path, response.status_code, response.json)
        return response.json


def _converged(hub: ScimHub, workers: list, started: float, count: int) -> float:
    return count / (wait_for_empty_queue(hub, workers) - started)


def _outbound(
    hub: ScimHub, workers: list, people: int, batch: int, workdir: Path
) -> tuple[float, float]:
    """Subscribe the documents app by SCIM, time its backfill, then `people` joiners."""
    from flask import Flask
    from werkzeug.serving import make_server

    from examples.scim_app import mount, users_of
    from idhub.ops.devstack.ports import free_port
    from idhub.scimout.subscriptions import ScimSettings, subscribe

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    token = "bench-documents-scim-token"
    documents = Flask("documents")
    storage = mount(documents, token, workdir / "documents")
    port = free_port("127.0.0.1")
    server = make_server("127.0.0.1", port, documents, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        idhub = hub.app.extensions["idhub"]
        with hub.db.transaction() as session:
            create_client(
                session, idhub.keyring, idhub.audit, Actor("cli", "bench"), name="Văn bản",
                scopes=["openid"], allowed_scopes=["openid"], client_id="document",
            )  # fmt: skip
            settings = ScimSettings(f"http://127.0.0.1:{port}/scim/v2", token)
            subscribe(
                session, idhub.keyring, idhub.audit, Actor("cli", "bench"), "document", settings
            )
        started = time.time()
        ended = wait_for_empty_queue(hub, workers)
        before = len(users_of(storage))
        backfill = before / (ended - started)
        started = time.time()
        for offset in range(0, people, batch):
            hub.joiners(min(batch, people - offset))
        push = _converged(hub, workers, started, people)
        assert len(users_of(storage)) == before + people, "not every joiner reached the app"
        return backfill, push
    finally:
        server.shutdown()
        thread.join(timeout=10)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scim", description=__doc__)
    parser.add_argument("--people", type=int, default=1000, help="joiners per path")
    parser.add_argument("--batch", type=int, default=100, help="joiners per batch / Bulk")
    parser.add_argument("--gets", type=int, default=500, help="filtered GETs")
    parser.add_argument("--out", default=str(RESULTS), help="results JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idhub-bench-") as tmp:
        workdir = Path(tmp)
        server = Slapd(
            workdir / "slapd", base_dn=BASE, admin_dn=f"cn=admin,{BASE}",
            admin_password="bench-admin-password",
        ).start()  # fmt: skip
        try:
            hub = ScimHub(workdir, server)
            workers = hub.start_workers(1)
            try:
                hub.joiners(WARMUP)  # the workers' start-up and first round: not counted
                hub.scim("POST", "/Users", hub.scim_user())
                wait_for_empty_queue(hub, workers)

                started = time.time()
                for offset in range(0, args.people, args.batch):
                    hub.joiners(min(args.batch, args.people - offset))
                rest = _converged(hub, workers, started, args.people)
                print(f"REST batches, converged: {rest:8.1f} joiners/s")

                started = time.time()
                for _ in range(args.people):
                    hub.scim("POST", "/Users", hub.scim_user())
                single = _converged(hub, workers, started, args.people)
                print(f"SCIM POST /Users, converged: {single:8.1f} joiners/s")

                started = time.time()
                for offset in range(0, args.people, args.batch):
                    ops = [
                        {"method": "POST", "path": "/Users", "bulkId": f"b{i}",
                         "data": hub.scim_user()}
                        for i in range(min(args.batch, args.people - offset))
                    ]  # fmt: skip
                    answer = hub.scim("POST", "/Bulk", {"schemas": [BULK], "Operations": ops})
                    assert all(o["status"] == "201" for o in answer["Operations"]), answer
                bulk = _converged(hub, workers, started, args.people)
                print(f"SCIM Bulk, converged: {bulk:8.1f} joiners/s")
                backfill, push = _outbound(hub, workers, args.people, args.batch, workdir)
                print(f"SCIM out, backfill: {backfill:8.1f} people/s")
                print(f"SCIM out, joiners converged into the app: {push:8.1f} joiners/s")
            finally:
                stop_workers(workers)

            started, listed, start = time.perf_counter(), 0, 1
            usernames: list[str] = []
            while True:
                page = hub.scim("GET", f"/Users?startIndex={start}&count=100")
                resources = page["Resources"]
                listed += len(resources)
                usernames += [u["userName"] for u in resources]
                start += len(resources)
                if not resources or start > page["totalResults"]:
                    break
            users_list = listed / (time.perf_counter() - started)
            print(f"GET /Users pages: {users_list:8.0f} users/s ({listed} users)")

            started = time.perf_counter()
            for n in range(args.gets):
                name = usernames[(n * 7919) % len(usernames)]
                found = hub.scim("GET", "/Users?filter=" + quote(f'userName eq "{name}"'))
                assert found["totalResults"] == 1
            filtered = args.gets / (time.perf_counter() - started)
            print(f"filtered GETs: {filtered:8.1f} /s")
            hub.db.dispose()
        finally:
            server.stop()
    result = {
        "people_per_path": args.people,
        "batch": args.batch,
        "users_listed": listed,
        "users_list_per_s": round(users_list, 1),
        "filtered_get_per_s": round(filtered, 1),
        "creates_per_s": round(bulk, 1),
        "single_creates_per_s": round(single, 1),
        "rest_batch_creates_per_s": round(rest, 1),
        "creates_ratio_to_rest_batch": round(bulk / rest, 3),
        "single_creates_ratio_to_rest_batch": round(single / rest, 3),
        "push_backfill_per_s": round(backfill, 1),
        "push_people_per_s": round(push, 1),
        "push_ratio_to_rest_batch": round(push / rest, 3),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
