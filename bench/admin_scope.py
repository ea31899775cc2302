"""What delegated administration costs the list endpoint: `python -m bench admin_scope`.

A SQLite database (migrated to head) with `--people` people (default 10,000), each with a
primary post, spread over `--communes` communes (default 100) under one province
committee. Two API clients with hr:read: one province-wide (no scope filter: the code
path of every request before #18, plus the one query that finds the client has no
subtree) and one limited to a commune's subtree (the scope's units worked out per
request, then every list filtered through them). Measured in alternating rounds, through
the app's own test client (no network):

* people_list_province_p50_ms / _p95_ms: GET /api/v1/people?page_size=50, province-wide;
* people_list_commune_p50_ms / _p95_ms: the same with the commune's client;
* person_get_province_p95_ms / person_get_commune_p95_ms: GET /api/v1/people/{id};
* ratios commune / province (the figures to compare across machines);
* with `--before CHECKOUT` (the code before #18, e.g. `git archive 53d5ffd | tar -x -C
  /tmp/before18`): before_people_list_*, measured right after in a process of its own on
  the same data, and the ratios of the province-wide and the commune's list to it.

Results: bench/results/admin_scope.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, update

from idhub import create_app
from idhub.changes.chain import Actor
from idhub.config import load_settings
from idhub.models import Assignment, OAuthClient, OrgUnit, Person, Position
from idhub.oidc.clients import create_client
from idhub.ops.migrate import upgrade

RESULTS = Path(__file__).resolve().parent / "results" / "admin_scope.json"


def _seed(engine: Any, people: int, communes: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    day = dt.date(2025, 7, 1)
    root = uuid.uuid4()
    units = [uuid.uuid4() for _ in range(communes)]
    position = uuid.uuid4()
    base = {"valid_from": day, "status": "active", "version": 1}
    with engine.begin() as conn:
        conn.execute(
            insert(OrgUnit),
            [{"id": root, "code": "12", "name": "UBND tỉnh", "type": "province_committee",
              "search_name": "ubnd tinh", **base}]
            + [{"id": u, "code": f"XA{n:03d}", "name": f"UBND xã {n}",
                "search_name": f"ubnd xa {n}", "type": "commune_committee", "parent_id": root,
                **base}
               for n, u in enumerate(units)],
        )  # fmt: skip
        conn.execute(insert(Position), [{"id": position, "code": "CV", "name": "Chuyên viên",
                                         "leadership_level": 0, "version": 1}])  # fmt: skip
        rows, posts = [], []
        for n in range(people):
            pid = uuid.uuid4()
            rows.append({"id": pid, "national_id": f"001{n:09d}", "family_name": "Nguyễn",
                         "middle_name": "Văn", "given_name": f"An{n}",
                         "search_name": f"nguyen van an{n}", "username": f"an{n}",
                         "status": "active", "version": 1})  # fmt: skip
            posts.append({"id": uuid.uuid4(), "person_id": pid, "unit_id": units[n % communes],
                          "position_id": position, "kind": "primary", "start_date": day,
                          "version": 1})  # fmt: skip
        conn.execute(insert(Person), rows)
        conn.execute(insert(Assignment), posts)
    return root, units


def _token(app: Any, subtree: uuid.UUID | None) -> str:
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        new = create_client(
            session,
            hub.keyring,
            hub.audit,
            Actor("cli", "bench"),
            name="bench",
            scopes=["hr:read"],
            allowed_scopes=["hr:read"],
        )
        if subtree is not None:
            session.execute(
                update(OAuthClient)
                .where(OAuthClient.client_id == new.client_id)
                .values(subtree_unit_id=subtree)
            )
    response = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(new.client_id, new.client_secret),
    )
    return response.json["access_token"]


def _ms(client: Any, url: str, token: str) -> float:
    started = time.perf_counter()
    response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (url, response.status_code)
    return elapsed


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def _before(args: argparse.Namespace) -> dict[str, Any]:
    """The province-wide figures with the code of `args.before`, same data and rounds."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        options = ["--province-only", "--people", str(args.people), "--communes",
                   str(args.communes), "--rounds", str(args.rounds), "--out", out.name]  # fmt: skip
        # Not `python bench/admin_scope.py`: bench/ would shadow the packages named alike.
        run = (
            "import runpy, sys; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')"
        )
        command = [sys.executable, "-c", run, __file__, *options]
        env = {**os.environ, "PYTHONPATH": str(Path(args.before).resolve())}
        subprocess.run(command, env=env, check=True, cwd=args.before)
        times = json.loads(Path(out.name).read_text(encoding="utf-8"))
    before = {
        "before_people_list_p50_ms": round(statistics.median(times["province_list"]), 2),
        "before_people_list_p95_ms": round(_p95(times["province_list"]), 2),
        "before_person_get_p95_ms": round(_p95(times["province_get"]), 2),
    }
    return before


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench admin_scope")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--communes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS), help="results JSON")
    parser.add_argument(
        "--before",
        metavar="CHECKOUT",
        help="also measure the province-wide list with the code of this checkout (before "
        "#18), in a process of its own right after, for the before/after ratio",
    )
    parser.add_argument("--province-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idhub-bench-") as folder:
        url = f"sqlite:///{folder}/idhub.db"
        engine = create_engine(url)
        upgrade(engine)
        settings = load_settings(
            overrides={"var_dir": folder, "database": {"url": url},
                       "logging": {"format": "json", "level": "WARNING"}},
            environ={},
        )  # fmt: skip
        app = create_app(settings)  # its keys are made while the database is empty
        _, units = _seed(app.extensions["idhub"].db.engine, args.people, args.communes)
        engine.dispose()
        client = app.test_client()
        tokens = {"province": _token(app, None)}
        if not args.province_only:
            tokens["commune"] = _token(app, units[0])
        one = {"province": None, "commune": None}
        for name, token in tokens.items():
            listed = client.get(
                "/api/v1/people?page_size=50", headers={"Authorization": f"Bearer {token}"}
            )
            one[name] = listed.json[0]["id"]
        times: dict[str, list[float]] = {f"{k}_{w}": [] for k in tokens for w in ("list", "get")}
        for _ in range(args.rounds):  # alternating, so drift falls on both alike
            for name, token in tokens.items():
                times[f"{name}_list"].append(_ms(client, "/api/v1/people?page_size=50", token))
                times[f"{name}_get"].append(_ms(client, f"/api/v1/people/{one[name]}", token))
        app.extensions["idhub"].db.dispose()
    if args.province_only:
        Path(args.out).write_text(json.dumps(times), encoding="utf-8")
        return 0
    result: dict[str, Any] = {
        "people": args.people,
        "communes": args.communes,
        "rounds": args.rounds,
        "people_list_province_p50_ms": round(statistics.median(times["province_list"]), 2),
        "people_list_province_p95_ms": round(_p95(times["province_list"]), 2),
        "people_list_commune_p50_ms": round(statistics.median(times["commune_list"]), 2),
        "people_list_commune_p95_ms": round(_p95(times["commune_list"]), 2),
        "person_get_province_p95_ms": round(_p95(times["province_get"]), 2),
        "person_get_commune_p95_ms": round(_p95(times["commune_get"]), 2),
    }
    result["list_p95_ratio_commune_to_province"] = round(
        result["people_list_commune_p95_ms"] / result["people_list_province_p95_ms"], 3
    )
    result["get_p95_ratio_commune_to_province"] = round(
        result["person_get_commune_p95_ms"] / result["person_get_province_p95_ms"], 3
    )
    if args.before:
        result.update(_before(args))
        for name, after in (
            ("province", "people_list_province"),
            ("commune", "people_list_commune"),
        ):
            result[f"list_p95_ratio_{name}_to_before"] = round(
                result[f"{after}_p95_ms"] / result["before_people_list_p95_ms"], 3
            )
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
