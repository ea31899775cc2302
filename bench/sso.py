"""Sign-on throughput on one core, in one process (Flask test client, no network), SQLite.

Reported (bench/results/sso.json), each per second on one core (one thread):

* baseline_per_s_per_core: GET /healthz — the framework's own floor for a request;
* cc_tokens_per_s_per_core: client-credentials tokens (keyed SHA-256, no argon2);
* sso_second_app_per_s_per_core: a person already signed in at the hub opens another
  app: GET /oauth/authorize (PKCE S256) → code → POST /oauth/token (ID token signed RS256);
* argon2_hashes_per_s: argon2id hashes with the production parameters (config/idhub.toml);
* password_logins_per_s: POST /sso/login with the right password (the argon2 factor; the
  TOTP step cannot repeat within 30 s by design).

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


def rate(fn, seconds: float) -> float:  # type: ignore[no-untyped-def]
    fn()  # warm up (first key, caches)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        fn()
        count += 1
    return count / (time.perf_counter() - started)


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
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
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
        }

        results["baseline_per_s_per_core"] = rate(lambda: web.get("/healthz"), args.seconds)
        results["cc_tokens_per_s_per_core"] = rate(
            lambda: web.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=auth),
            args.seconds,
        )

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

        results["password_logins_per_s"] = rate(password_login, args.seconds)
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

        results["sso_second_app_per_s_per_core"] = rate(second_app, args.seconds)
        ph = hasher(app.extensions["idhub"].settings.section(SsoSettings))
        results["argon2_hashes_per_s"] = rate(lambda: ph.hash(PASSWORD), args.seconds)
        results["argon2_parameters"] = {
            "time_cost": ph.time_cost,
            "memory_kib": ph.memory_cost,
            "parallelism": ph.parallelism,
        }
        db.dispose()
    for key, value in list(results.items()):
        if isinstance(value, float):
            results[key] = round(value, 1)
            print(f"{key:32s} {value:10.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS}")
    return 0
