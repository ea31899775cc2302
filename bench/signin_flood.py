"""HR writes while failed sign-ins flood the hub: does the flood slow them down?

One throwaway hub (SQLite by default, or --database-url), production argon2 unless told.
The HR side is one client POSTing single people (/api/v1/people) as fast as it can, in this
process (Flask test client). The flood runs in a separate process (as another gunicorn
worker would): `--per-min` failed sign-ins a minute, paced, from `--sources` client
addresses (each its own browser, via a trusted proxy's X-Forwarded-For when the hub has
trusted proxies, else REMOTE_ADDR), against `--accounts` real usernames and as many
unknown names, with wrong passwords.

Phases alternate (alone, flood, alone, flood, …, `--rounds` of each, `--seconds` each) so
the machine's drift falls on both; reported (bench/results/signin_flood.json):

* hr_writes_per_s_alone / hr_writes_per_s_flood: medians over the rounds;
* slowdown: 1 − the median over flood phases of (flood rate / the mean of the alone
  phases just before and after it): the machine's drift falls out (goal < 0.10);
* flood_per_min: the failed sign-ins the flood achieved, and its answers (401, 429).

The file runs against any version of the hub that has /sso/login and /api/v1/people,
so a before/after comparison is the same command on two checkouts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import re
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyotp
from sqlalchemy import select

from idhub import create_app
from idhub.changes.chain import Actor
from idhub.config import load_settings
from idhub.identity.personal import cccd_clause
from idhub.models import Person
from idhub.oidc.clients import create_client
from idhub.oidc.credentials import set_credentials
from idhub.oidc.settings import SsoSettings
from idhub.ops.migrate import upgrade

RESULTS = Path(__file__).resolve().parent / "results" / "signin_flood.json"
PASSWORD = "Núi cao sông dài 2026!"
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8192, "argon2_parallelism": 1}


def cccd(serial: int) -> str:
    """A well-formed citizen id: province 001, a man born in 1985, then the serial."""
    return f"001085{serial:06d}"


def _settings(tmp: str, args: argparse.Namespace) -> dict[str, Any]:
    sso: dict[str, Any] = {"issuer": "http://127.0.0.1:8080"}
    if args.argon2 == "fast":
        sso.update(FAST_ARGON2)
    return load_settings(
        overrides={
            "var_dir": f"{tmp}/var",
            "database": {"url": args.database_url or f"sqlite:///{tmp}/flood.db"},
            "logging": {"format": "text", "level": "ERROR"},
            "sso": sso,
        },
        environ={},
    )


def _flood(  # type: ignore[no-untyped-def]
    settings: dict[str, Any],
    usernames: list[str],
    args: argparse.Namespace,
    go,
    stop,
    out,
    progress,
) -> None:
    """The flooding process: paced failed sign-ins whenever `go` is set, until `stop`."""
    app = create_app(settings)
    browsers = []
    for n in range(args.sources):
        address = f"198.18.{n // 250}.{n % 250 + 1}"
        browser = app.test_client()
        browser.environ_base["REMOTE_ADDR"] = address
        page = browser.get("/sso/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        browsers.append((browser, token.group(1)))
    names = usernames + [f"khongco{n}" for n in range(len(usernames))]
    interval = 60.0 / args.per_min
    answers: Counter[int] = Counter()
    sent, flood_time = 0, 0.0
    while not stop.is_set():
        if not go.wait(0.05):
            continue
        started = time.perf_counter()
        next_at = started
        while go.is_set() and not stop.is_set():
            browser, token = browsers[sent % len(browsers)]
            if args.control:
                answers[browser.get("/sso/login").status_code] += 1
                sent += 1
                progress.value = sent
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))
                continue
            response = browser.post(
                "/sso/login",
                data={
                    "csrf_token": token,
                    "username": names[sent % len(names)],
                    "password": f"sai-{sent}",
                },
            )
            answers[response.status_code] += 1
            sent += 1
            progress.value = sent
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        flood_time += time.perf_counter() - started
    out.put({"sent": sent, "seconds": flood_time, "answers": dict(answers)})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench signin_flood", description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per phase")
    parser.add_argument("--rounds", type=int, default=12, help="alone/flood pairs")
    parser.add_argument("--per-min", type=int, default=1000, help="failed sign-ins a minute")
    parser.add_argument("--sources", type=int, default=5, help="flooding client addresses")
    parser.add_argument(
        "--warm",
        type=int,
        default=None,
        help="failed sign-ins before measuring (default: every address's allowance)",
    )
    parser.add_argument("--accounts", type=int, default=10, help="real usernames tried")
    parser.add_argument("--argon2", choices=["production", "fast"], default="production")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument(
        "--control",
        action="store_true",
        help="flood with GET /sso/login (no database write) instead: the cost of any "
        "1,000 requests a minute on this machine",
    )
    parser.add_argument("--out", default=str(RESULTS), help="results JSON")
    args = parser.parse_args(argv)
    if args.warm is None:
        args.warm = args.sources * 20  # [sso] ip_failures_per_window
    with tempfile.TemporaryDirectory(prefix="idhub-bench-flood-") as tmp:
        settings = _settings(tmp, args)
        app = create_app(settings)
        services = app.extensions["idhub"]
        db = services.db
        upgrade(db.engine)
        web = app.test_client()
        with db.transaction() as session:
            admin = create_client(
                session,
                services.keyring,
                services.audit,
                Actor("cli", "bench"),
                name="bench HR",
                scopes=["hr:write"],
                allowed_scopes=["hr:write"],
            )
        token = web.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(admin.client_id, admin.client_secret),
        )
        headers = {"Authorization": f"Bearer {(token.json or {})['access_token']}"}

        def post(url: str, body: dict) -> dict:
            response = web.post(url, json=body, headers=headers)
            assert response.status_code == 201 and response.json is not None, response.json
            return dict(response.json)

        unit = post(
            "/api/v1/org-units",
            {
                "code": "SNV",
                "name": "Sở Nội vụ",
                "type": "department",
                "valid_from": "2025-07-01",
                "mail_domain": "snv.laichau.gov.vn",
            },
        )
        position = post("/api/v1/positions", {"code": "CV", "name": "Chuyên viên"})
        given = ["An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Lan", "Linh", "Mai", "Nga"]
        usernames = []
        sso = services.settings.section(SsoSettings)
        for n in range(args.accounts):
            person = post(
                "/api/v1/people",
                {
                    "national_id": cccd(n),
                    "family_name": "Đặng",
                    "middle_name": "Thị",
                    "given_name": given[n % len(given)] + ("" if n < len(given) else str(n)),
                },
            )
            post(
                "/api/v1/assignments",
                {
                    "person_id": person["id"],
                    "unit_id": unit["id"],
                    "position_id": position["id"],
                    "kind": "primary",
                    "start_date": "2025-07-01",
                },
            )
            secret = pyotp.random_base32()
            with db.transaction() as session:
                row = session.scalar(select(Person).where(cccd_clause(cccd(n))))
                assert row is not None and row.username
                usernames.append(row.username)
                set_credentials(
                    session,
                    services.keyring,
                    services.audit,
                    sso,
                    Actor("cli", "bench"),
                    row,
                    password=PASSWORD,
                    totp_secret=secret,
                    totp_code=pyotp.TOTP(secret).now(),
                )

        counter = [args.accounts]

        def hr_writes(seconds: float) -> float:
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds:
                counter[0] += 1
                post(
                    "/api/v1/people",
                    {
                        "national_id": cccd(counter[0]),
                        "family_name": "Nguyễn",
                        "middle_name": "Văn",
                        "given_name": "Bảy",
                    },
                )
                count += 1
            return count / (time.perf_counter() - started)

        ctx = mp.get_context("fork")
        go, stop, out, progress = ctx.Event(), ctx.Event(), ctx.Queue(), ctx.Value("l", 0)
        db.dispose()  # the child opens its own connections
        flooder = ctx.Process(
            target=_flood, args=(settings, usernames, args, go, stop, out, progress)
        )
        flooder.start()
        time.sleep(2.0)  # the child builds its app and browsers
        hr_writes(1.0)  # warm up
        # A sustained flood: its first minutes (every address still under its allowance,
        # each try one argon2 hash) are over before measuring; --warm 0 measures them.
        go.set()
        started = time.perf_counter()
        while progress.value < args.warm and time.perf_counter() - started < 600:
            time.sleep(0.2)
        go.clear()
        warm_s = time.perf_counter() - started
        time.sleep(0.5)
        alone, flood = [], []
        measured_sent, measured_s = 0, 0.0
        for _ in range(args.rounds):
            alone.append(hr_writes(args.seconds))
            go.set()
            time.sleep(0.5)  # the flood reaches its pace
            before, began = progress.value, time.perf_counter()
            flood.append(hr_writes(args.seconds))
            measured_sent += progress.value - before
            measured_s += time.perf_counter() - began
            go.clear()
            time.sleep(0.5)
        alone.append(hr_writes(args.seconds))  # each flood phase between two alone ones
        stop.set()
        report = out.get(timeout=60)
        flooder.join(timeout=60)
        db.dispose()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": "postgresql" if args.database_url else "sqlite",
        "argon2": args.argon2,
        "flood": "GET /sso/login (control)" if args.control else "failed POST /sso/login",
        "sources": args.sources,
        "accounts": args.accounts,
        "flood_target_per_min": args.per_min,
        "warm_up_sign_ins": args.warm,
        "warm_up_s": round(warm_s, 1),
        "flood_per_min": round(measured_sent / max(measured_s, 1e-9) * 60, 1),
        "flood_answers": report["answers"],
        "hr_writes_per_s_alone_rounds": [round(x, 1) for x in alone],
        "hr_writes_per_s_flood_rounds": [round(x, 1) for x in flood],
        "hr_writes_per_s_alone": round(statistics.median(alone), 1),
        "hr_writes_per_s_flood": round(statistics.median(flood), 1),
    }
    # The machine's speed drifts (shared cores): each flood phase is compared with the
    # mean of the alone phases on either side of it, and the median of those ratios kept.
    ratios = [f / ((a + b) / 2) for f, a, b in zip(flood, alone, alone[1:], strict=False)]
    results["flood_to_alone_ratios"] = [round(r, 3) for r in ratios]
    results["slowdown"] = round(1 - statistics.median(ratios), 3)
    for key, value in results.items():
        print(f"{key:32s} {value}")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
    return 0
