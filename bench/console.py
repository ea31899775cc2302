"""What the console's pages cost with a province's worth of people: `python -m bench console`.

The data of `bench admin_scope` (its `_seed`: `--people` people, default 10,000, each with
a primary post, over `--communes` communes, default 100, SQLite migrated to head). Two
administrators, each signed in with a second factor (a session row made as the sign-in
makes it; the sign-in itself is not measured): the HR officer of the first commune and
the province administrator. In alternating rounds, through the app's test client (the
whole Flask stack, templates included, no network):

* people_list_p95_s: GET /admin/people (first page, the count, the posts of the page);
* search_p95_s: GET /admin/people?q=… (a name without accents);
* person_page_p95_s: GET /admin/people/{id} (HR record, history, accounts, mailbox plan,
  sessions, roles, audit);
each the worse of the two administrators, with the per-administrator figures beside.
Goal: p95 < 0.3 s on SQLite.

Results are merged into bench/results/console.json (other console benchmarks write their
own keys into the same file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from bench import console_import
from bench.admin_scope import _p95, _seed
from idhub import create_app
from idhub.admin.grants import everywhere, grant_role
from idhub.changes.chain import Actor
from idhub.changes.context import HrContext
from idhub.config import load_settings
from idhub.models import Person
from idhub.oidc.sessions import COOKIE, start_session
from idhub.ops.migrate import upgrade

RESULTS = Path(__file__).resolve().parent / "results" / "console.json"


def _admin(app: Any, role: str, unit_id: uuid.UUID | None, n: int) -> str:
    """A person holding `role` over `unit_id` and a live session with a second factor:
    the session cookie's secret."""
    hub = app.extensions["idhub"]
    with hub.db.transaction() as session:
        person = Person(
            national_id=f"0019{n:08d}",
            family_name="Quản",
            middle_name="Trị",
            given_name=f"Viên{n}",
            search_name=f"quan tri vien{n}",
            username=f"admin{n}",
        )
        session.add(person)
        session.flush()
        ctx = HrContext(session=session, audit=hub.audit, actor=Actor("cli", "bench"))
        grant_role(
            ctx,
            {
                "person_id": person.id,
                "role": role,
                "unit_id": unit_id,
                "valid_from": dt.date.today() - dt.timedelta(days=1),
                "valid_to": None,
                "reason": "bench",
            },
            everywhere,
        )
        _, secret = start_session(
            session,
            hub.keyring,
            person.id,
            amr=["pwd", "otp"],
            ttl_s=86_400,
            source_ip="127.0.0.1",
            user_agent="bench",
        )
    return secret


def _s(client: Any, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, (url, response.status_code)
    return elapsed


def merge(path: Path, values: dict[str, Any]) -> dict[str, Any]:
    """The file's keys with `values` over them (another suite writes its own keys)."""
    current = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    current.update(values)
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    return current


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench console")
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--communes", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--import-rows", type=int, default=5_000)
    parser.add_argument("--out", default=str(RESULTS), help="results JSON (keys merged in)")
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
        app = create_app(settings)
        _, units = _seed(engine, args.people, args.communes)
        engine.dispose()
        admins = {
            "officer": _admin(app, "hr_officer", units[0], 1),
            "province": _admin(app, "province_admin", None, 2),
        }
        clients, one = {}, {}
        for name, secret in admins.items():
            client = app.test_client()
            client.set_cookie(COOKIE, secret)
            listed = client.get("/admin/people")
            assert listed.status_code == 200, listed.status_code
            found = listed.get_data(as_text=True).split('href="/admin/people/')[1]
            one[name] = found.split('"')[0]
            clients[name] = client
        # Communes hold people n ≡ k (mod communes): a name of the officer's own commune.
        query = f"nguyen van an{args.communes * 7}"
        times: dict[str, list[float]] = {
            f"{n}_{w}": [] for n in admins for w in ("list", "search", "person")
        }
        for _ in range(args.rounds):  # alternating, so drift falls on both alike
            for name, client in clients.items():
                times[f"{name}_list"].append(_s(client, "/admin/people"))
                times[f"{name}_search"].append(_s(client, f"/admin/people?q={query}"))
                times[f"{name}_person"].append(_s(client, f"/admin/people/{one[name]}"))
        app.extensions["idhub"].db.dispose()
    result: dict[str, Any] = {"people": args.people, "console_rounds": args.rounds}
    # The import's preview, on its own province of the same size (bench/console_import.py).
    result.update(console_import.measure(args.people, args.import_rows, 3))
    for what, key in (("list", "people_list"), ("search", "search"), ("person", "person_page")):
        for name in admins:
            result[f"{key}_{name}_p50_s"] = round(statistics.median(times[f"{name}_{what}"]), 4)
            result[f"{key}_{name}_p95_s"] = round(_p95(times[f"{name}_{what}"]), 4)
        result[f"{key}_p95_s"] = max(result[f"{key}_{n}_p95_s"] for n in admins)
    merged = merge(Path(args.out), result)
    print(json.dumps(merged, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
