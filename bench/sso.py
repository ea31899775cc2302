"""Sign-on throughput on one core, in one process (Flask test client, no network), SQLite.

Reported (bench/results/sso.json), each per second on one core (one thread):

* baseline_per_s_per_core: GET /healthz — the framework's own floor for a request;
* cc_tokens_per_s_per_core: client-credentials tokens (the secret checked as a keyed
  SHA-256, no argon2; the token sealed with HMAC-SHA256, nothing written);
* sso_second_app_per_s_per_core: a person already signed in at the hub opens another
  app: GET /oauth/authorize (PKCE S256) → code → POST /oauth/token (ID token signed RS256);
* argon2_hashes_per_s: argon2id hashes with the production parameters (idhub/defaults/idhub.toml);
* password_logins_per_s: POST /sso/login with the right password (the argon2 factor; the
  TOTP step cannot repeat within 30 s by design).

The machine is shared, so the three request rates are measured together, in turns of
`--window` seconds (`--rounds` turns each), and counted per second of this process's CPU
time (`time.process_time`: one thread, so that is per core; the `*_wall` keys give the
same per second of wall time): a neighbour's load then shifts none of them against the
others. The ratios (`*_vs_baseline`) are the figures to compare across machines. The
password logins and argon2 hashes are measured in turns too; their rates are per second
of wall time, `password_logins_vs_argon2` is their ratio per second of CPU time (argon2's
lane threads included: what a core gives whatever the neighbours do) and
`password_logins_vs_argon2_wall` the same in wall time.

Compare with Keycloak's published sizing (docs/benchmarks.md): 15 password logins/s and
120–240 client-credential grants/s per vCPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import select

from idhub import create_app
from idhub.changes.chain import Actor
from idhub.config import load_settings
from idhub.models import Person
from idhub.oidc.clients import create_client
from idhub.oidc.credentials import set_credentials
from idhub.oidc.passwords import hasher
from idhub.oidc.settings import SsoSettings
from idhub.ops.migrate import upgrade

RESULTS = Path(__file__).resolve().parent / "results" / "sso.json"
PASSWORD = "Núi cao sông dài 2026!"
REDIRECT = "http://127.0.0.1:9/cb"


def in_turns(
    fns: dict[str, Callable[[], object]], *, rounds: int, window: float
) -> dict[str, tuple[float, float]]:
    """Each function run for `window` seconds in turn, `rounds` times: per key, the rate
    per second of this process's CPU time and per second of wall time."""
    for fn in fns.values():
        fn()  # warm up (first key, caches)
    done = {key: [0, 0.0, 0.0] for key in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            count, cpu, wall = 0, time.process_time(), time.perf_counter()
            while time.perf_counter() - wall < window:
                fn()
                count += 1
            done[key][0] += count
            done[key][1] += time.process_time() - cpu
            done[key][2] += time.perf_counter() - wall
    return {key: (n / max(cpu, 1e-9), n / wall) for key, (n, cpu, wall) in done.items()}


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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench sso", description=__doc__)
    parser.add_argument("--rounds", type=int, default=10, help="turns of each measurement")
    parser.add_argument("--window", type=float, default=0.5, help="seconds of one turn")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="idhub-bench-sso-") as tmp:
        settings = load_settings(
            overrides={
                "var_dir": f"{tmp}/var",
                "database": {"url": f"sqlite:///{tmp}/sso.db"},
                "logging": {"format": "text", "level": "WARNING"},
                "sso": {"issuer": "http://127.0.0.1:8080"},
            },
            environ={},
        )
        app = create_app(settings)
        db = app.extensions["idhub"].db
        upgrade(db.engine)
        web = app.test_client()
        admin = _client(app, name="bench admin", scopes=["admin"])
        auth = (admin.client_id, admin.client_secret)
        token = web.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth)
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
        person = post(
            "/api/v1/people",
            {
                "national_id": "012345678901",
                "family_name": "Đặng",
                "middle_name": "Thị",
                "given_name": "Ánh",
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
            row = session.scalar(select(Person))
            set_credentials(
                session,
                app.extensions["idhub"].keyring,
                app.extensions["idhub"].audit,
                app.extensions["idhub"].settings.section(SsoSettings),
                Actor("cli", "bench"),
                row,
                password=PASSWORD,
                totp_secret=secret,
                totp_code=pyotp.TOTP(secret).now(),
            )
        results: dict[str, Any] = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "database": "sqlite",
            "cores": 1,
            "timing": "per second of this process's CPU time, in turns (see the docstring)",
        }

        browser = app.test_client()

        def csrf(path: str) -> str:
            found = re.search(r'name="csrf_token" value="([^"]+)"', browser.get(path).text)
            assert found is not None
            return found.group(1)

        def password_login() -> None:
            response = browser.post(
                "/sso/login",
                data={
                    "csrf_token": csrf("/sso/login"),
                    "username": person["username"],
                    "password": PASSWORD,
                },
            )
            assert response.status_code == 303, response.text

        ph = hasher(app.extensions["idhub"].settings.section(SsoSettings))
        argon2 = in_turns(
            {"logins": password_login, "hashes": lambda: ph.hash(PASSWORD)},
            rounds=args.rounds,
            window=max(args.window, 1.0),
        )
        results["password_logins_per_s"] = argon2["logins"][1]
        results["argon2_hashes_per_s"] = argon2["hashes"][1]
        # Per CPU second (argon2's lane threads count too): what a core gives, whatever
        # the neighbours do; the wall-time ratio beside it moves with the machine's load.
        results["password_logins_vs_argon2"] = round(argon2["logins"][0] / argon2["hashes"][0], 3)
        results["password_logins_vs_argon2_wall"] = round(
            argon2["logins"][1] / argon2["hashes"][1], 3
        )
        results["argon2_parameters"] = {
            "time_cost": ph.time_cost,
            "memory_kib": ph.memory_cost,
            "parallelism": ph.parallelism,
        }
        password_login()
        time.sleep(max(0.0, 30 - time.time() % 30) + 0.5)  # the enrolment step is spent
        done = browser.post(
            "/sso/login/code",
            data={"csrf_token": csrf("/sso/login/code"), "code": pyotp.TOTP(secret).now()},
        )
        assert done.status_code == 303, done.text

        app2 = _client(
            app,
            name="Họp trực tuyến",
            scopes=["openid", "profile", "email", "org", "roles"],
            grant_types=["authorization_code"],
            redirect_uris=[REDIRECT],
            first_party=True,
        )

        def second_app() -> None:
            verifier = secrets.token_urlsafe(48)
            response = browser.get(
                "/oauth/authorize",
                query_string={
                    "response_type": "code",
                    "client_id": app2.client_id,
                    "redirect_uri": REDIRECT,
                    "scope": "openid profile email org roles",
                    "state": "s",
                    "nonce": secrets.token_urlsafe(8),
                    "code_challenge": create_s256_code_challenge(verifier),
                    "code_challenge_method": "S256",
                },
            )
            assert response.status_code == 302, response.text
            code = parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]
            tokens = web.post(
                "/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": REDIRECT,
                    "code_verifier": verifier,
                },
                auth=(app2.client_id, app2.client_secret),
            )
            assert tokens.status_code == 200 and (tokens.json or {}).get("id_token"), tokens.json

        def client_credentials() -> None:
            response = web.post(
                "/oauth/token", data={"grant_type": "client_credentials"}, auth=auth
            )
            assert response.status_code == 200, response.json

        rates = in_turns(
            {
                "baseline": lambda: web.get("/healthz"),
                "cc_tokens": client_credentials,
                "sso_second_app": second_app,
            },
            rounds=args.rounds,
            window=args.window,
        )
        for key, (per_cpu_s, per_wall_s) in rates.items():
            results[f"{key}_per_s_per_core"] = per_cpu_s
            results[f"{key}_per_s_wall"] = per_wall_s
        floor = rates["baseline"][0]
        results["cc_tokens_vs_baseline"] = round(rates["cc_tokens"][0] / floor, 3)
        results["sso_second_app_vs_baseline"] = round(rates["sso_second_app"][0] / floor, 4)
        db.dispose()
    for key, value in list(results.items()):
        if isinstance(value, float):
            if "_vs_" not in key:  # the ratios are rounded where they are made
                results[key] = value = round(value, 1)
            print(f"{key:36s} {value:10}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS}")
    return 0
