"""Change events to the apps: `python -m bench events`.

A hub on SQLite with `--people` staff (one post each), an example app
(examples/rp_app.py: verifies each Standard Webhooks signature, deduplicates, keeps its
user table) on loopback, registered and subscribed. Measured in the same run, against the
same receiver:

* raw_posts_per_s: one signed joiner body POSTed after another with urllib (the floor:
  what one sender gets from that app without the hub);
* events_per_s: the hub's events worker delivering every person's joiner (claim, the
  projection from HR and the rules, the diff, signing, the POST, the record) until the
  queue is empty;
* movers_per_s: the same after every person got a second post (mover + role change
  each: two events per person, counted as events);
* ratio: events_per_s / raw_posts_per_s (the figure to compare across machines).

The raw rate is measured in turns of `--turn` POSTs, one before each of the worker's
rounds (a round is up to `--batch` people: small rounds, many turns), so the machine's drift falls
on both alike. Results: bench/results/events.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from werkzeug.serving import make_server

from examples.rp_app import create_rp
from idhub import create_app
from idhub.changes.chain import Actor
from idhub.changes.outbox import EVENTS_TARGET
from idhub.config import load_settings
from idhub.events.delivery import post_event
from idhub.events.subscriptions import subscribe
from idhub.events.target import events_worker
from idhub.identity.cccd import century_and_sex
from idhub.models import ProvisioningJob, utcnow
from idhub.oidc.clients import create_client
from idhub.ops.migrate import upgrade
from idhub.services import ProvisioningSettings

RESULTS = Path(__file__).resolve().parent / "results" / "events.json"


def _client(app, **fields: Any):  # type: ignore[no-untyped-def]
    scopes = fields.pop("scopes")
    with app.extensions["idhub"].db.transaction() as session:
        return create_client(
            session,
            app.extensions["idhub"].keyring,
            app.extensions["idhub"].audit,
            Actor("cli", "bench"),
            scopes=scopes,
            allowed_scopes=scopes,
            **fields,
        )


class Raw:
    """Signed joiner bodies POSTed one after another with urllib: the floor."""

    def __init__(self, url: str, secret: str) -> None:
        self.url, self.secret = url, secret
        self.posts, self.seconds, self.turns = 0, 0.0, []  # type: ignore[var-annotated]

    def turn(self, count: int) -> None:
        started = time.perf_counter()
        for _ in range(count):
            i = self.posts
            eid = f"evt_raw_{i}"
            person = {"sub": f"raw-{i}", "username": f"raw{i}", "name": "Lò Văn Hưng"}
            body = json.dumps({"id": eid, "type": "joiner", "seq": 1, "data": {"person": person}})
            outcome = post_event(self.url, self.secret, eid, body, 10.0, utcnow())
            assert outcome.error is None, outcome.error
            self.posts += 1
        elapsed = time.perf_counter() - started
        self.seconds += elapsed
        self.turns.append(round(count / elapsed, 1))

    @property
    def rate(self) -> float:
        return self.posts / self.seconds


def drain(app, raw: Raw, turn: int) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """Run the events worker until its queue is empty, a raw turn before each of its
    rounds (so the machine's drift falls on both alike): (jobs, seconds in rounds)."""
    hub = app.extensions["idhub"]
    worker = events_worker(hub)
    seconds, jobs = 0.0, 0
    try:
        while True:
            raw.turn(turn)
            started = time.perf_counter()
            done = worker.run_once()
            seconds += time.perf_counter() - started
            if not done:
                break
            jobs += done
    finally:
        worker.close()
    with hub.db.reading() as session:
        left = session.scalar(
            select(func.count())
            .select_from(ProvisioningJob)
            .where(ProvisioningJob.target == EVENTS_TARGET)
        )
    assert left == 0, f"{left} event jobs left"
    return jobs, seconds


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench events", description=__doc__)
    parser.add_argument("--people", type=int, default=600)
    parser.add_argument("--batch", type=int, default=50, help="people in one worker round")
    parser.add_argument("--turn", type=int, default=50, help="raw POSTs before each round")
    parser.add_argument("--out", default=str(RESULTS), help="results JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="idhub-bench-events-") as tmp:
        settings = load_settings(
            overrides={
                "var_dir": f"{tmp}/var",
                "database": {"url": f"sqlite:///{tmp}/events.db"},
                "logging": {"format": "text", "level": "WARNING"},
                "sso": {"issuer": "http://127.0.0.1:9"},
                "provisioning": {"batch_size": args.batch},
            },
            environ={},
        )
        app = create_app(settings)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        hub = app.extensions["idhub"]
        batch_size = hub.settings.section(ProvisioningSettings).batch_size
        upgrade(hub.db.engine)
        web = app.test_client()
        admin = _client(app, name="bench admin", scopes=["admin", "hr:write"])
        auth = (admin.client_id, admin.client_secret)
        token = web.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
        headers = {"Authorization": f"Bearer {(token.json or {})['access_token']}"}

        def post(url: str, body: dict) -> dict:
            response = web.post(url, json=body, headers=headers)
            assert response.status_code == 201 and response.json is not None, response.json
            return dict(response.json)

        def unit(code: str, name: str) -> dict:
            body = {"code": code, "name": name, "type": "department", "valid_from": "2025-07-01"}
            return post("/api/v1/org-units", {**body, "mail_domain": f"{code.lower()}.gov.vn"})

        first, second = unit("SNV", "Sở Nội vụ"), unit("STC", "Sở Tài chính")
        position = post("/api/v1/positions", {"code": "CV", "name": "Chuyên viên"})
        digit = century_and_sex(1990, False)
        people = []
        for i in range(args.people):
            person = post(
                "/api/v1/people",
                {
                    "national_id": f"001{digit}90{i:06d}",
                    "family_name": "Nguyễn",
                    "middle_name": "Văn",
                    "given_name": f"An {i}",
                },
            )
            post(
                "/api/v1/assignments",
                {
                    "person_id": person["id"],
                    "unit_id": first["id"],
                    "position_id": position["id"],
                    "kind": "primary",
                    "start_date": "2025-07-01",
                },
            )
            people.append(person)

        receiver = make_server("127.0.0.1", 0, lambda e, s: rp(e, s), threaded=True)
        base = f"http://127.0.0.1:{receiver.server_port}"
        registered = _client(
            app,
            name="Văn bản",
            client_id="document",
            scopes=["openid"],
            grant_types=["authorization_code"],
            redirect_uris=[base + "/callback"],
        )
        with hub.db.transaction() as session:
            secret = subscribe(
                session, hub.keyring, hub.audit, Actor("cli", "bench"), "document",
                base + "/events", ["joiner", "mover", "leaver", "role_change"],
            )  # fmt: skip
        assert secret is not None
        rp = create_rp("Văn bản", base, "http://127.0.0.1:9", "document",
                       registered.client_secret or "", secret)  # fmt: skip
        thread = threading.Thread(target=receiver.serve_forever, daemon=True)
        thread.start()
        try:
            raw = Raw(base + "/events", secret)
            jobs, joiner_s = drain(app, raw, args.turn)
            users = rp.extensions["rp_users"]
            assert sum(1 for u in users.values() if not u["sub"].startswith("raw-")) == len(people)
            for person in people:  # a second post each: a move and a role change
                post(
                    "/api/v1/assignments",
                    {
                        "person_id": person["id"],
                        "unit_id": second["id"],
                        "position_id": position["id"],
                        "kind": "concurrent",
                        "start_date": "2025-07-01",
                    },
                )
            moved_jobs, mover_s = drain(app, raw, args.turn)
        finally:
            receiver.shutdown()
        moved = [u for u in users.values() if "STC" in u.get("units", [])]
        assert len(moved) == len(people), len(moved)
        seqs = {u["seq"] for u in moved}
    events_per_s = jobs / joiner_s
    movers_events = 2 * moved_jobs if seqs == {3} else moved_jobs
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": "sqlite",
        "people": args.people,
        "worker_batch_size": batch_size,
        "raw_posts_per_s": round(raw.rate, 1),
        "raw_posts_per_s_turns": raw.turns,
        "events_per_s": round(events_per_s, 1),
        "ratio": round(events_per_s / raw.rate, 3),
        "movers_events_per_s": round(movers_events / mover_s, 1),
        "movers_ratio": round(movers_events / mover_s / raw.rate, 3),
        "events_per_mover": 2 if seqs == {3} else 1,
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0
