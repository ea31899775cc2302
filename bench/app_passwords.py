"""What a mail login costs slapd with app passwords: `python -m bench app_passwords`.

One throwaway slapd (idhub/defaults/ldap/slapd.conf.tmpl, as the tests and `make run` use). A
person entry holds the account password as the hub writes it ({ARGON2}, the hub's
production cost from idhub/defaults/idhub.toml [sso] unless --time-cost/--memory-kib/
--parallelism); the person's mail-credentials entry (ou=mailauth) holds `--devices` app
passwords as the hub writes them ({SSHA512}, two values each), and a second one the same
app passwords hashed with that argon2 cost instead (the scheme not chosen). Measured: the
wall time of an LDAP simple bind — what Dovecot's auth_bind does on an auth-cache miss —
with the app password whose values slapd checks last (it tries the values in order), in
alternating rounds so the machine's drift falls on all three alike:

* account_argon2_ms: binding with the account password (the baseline);
* app_ssha512_ms, app_argon2_ms: the last app password, per scheme;
* ratios against the baseline (the figures to compare across machines).

Results: bench/results/app_passwords.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import argon2
import ldap

from connectors.base import AccountKey
from connectors.ldap import LdapConfig, LdapConnector
from idhub.account.app_passwords import directory_hashes, new_app_password
from idhub.config import Settings, load_settings
from idhub.oidc.settings import SsoSettings
from idhub.ops.devstack.slapd import Slapd

RESULTS = Path(__file__).resolve().parent / "results" / "app_passwords.json"
BASE = "dc=idhub,dc=gov,dc=vn"
ACCOUNT_PASSWORD = "Núi cao sông dài 2026!"


def bind_ms(url: str, dn: str, password: str) -> float:
    conn = ldap.initialize(url)
    started = time.perf_counter()
    conn.simple_bind_s(dn, password)
    elapsed = (time.perf_counter() - started) * 1000
    conn.unbind_s()
    return elapsed


def main(argv: list[str]) -> int:
    sso = Settings(load_settings()).section(SsoSettings)
    parser = argparse.ArgumentParser(prog="python -m bench app_passwords")
    parser.add_argument("--devices", type=int, default=10, help="app passwords held")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--time-cost", type=int, default=sso.argon2_time_cost)
    parser.add_argument("--memory-kib", type=int, default=sso.argon2_memory_kib)
    parser.add_argument("--parallelism", type=int, default=sso.argon2_parallelism)
    parser.add_argument("--out", default=str(RESULTS), help="results JSON")
    args = parser.parse_args(argv)
    hasher = argon2.PasswordHasher(args.time_cost, args.memory_kib, args.parallelism)
    admin_password = "bench-" + new_app_password().replace(" ", "")
    with tempfile.TemporaryDirectory(prefix="idhub-bench-") as folder:
        server = Slapd(folder, base_dn=BASE, admin_dn=f"cn=admin,{BASE}",
                       admin_password=admin_password)  # fmt: skip
        with server:
            conn = server.connect()
            person = f"uid=annv,{BASE}"
            conn.add_s(person, [
                ("objectClass", [b"inetOrgPerson", b"idhubPerson"]),
                ("uid", [b"annv"]), ("cn", [b"Nguyen Van An"]), ("sn", [b"Nguyen"]),
                ("idhubPersonId", [b"p-1"]), ("idhubAccountStatus", [b"active"]),
                ("userPassword", [("{ARGON2}" + hasher.hash(ACCOUNT_PASSWORD)).encode()]),
            ])  # fmt: skip
            conn.unbind_s()
            secrets = [new_app_password() for _ in range(args.devices)]
            connector = LdapConnector(
                LdapConfig(
                    url=server.url,
                    base_dn=BASE,
                    bind_dn=server.admin_dn,
                    password=admin_password,
                    timeout_s=30.0,
                )  # fmt: skip
            )
            ssha = connector.set_mail_credentials(
                AccountKey("p-1"), uid="annv", active=True,
                values=[v for s in secrets for v in directory_hashes(s)],
            )  # fmt: skip
            slow = connector.set_mail_credentials(
                AccountKey("p-2"), uid="annv2", active=True,
                values=["{ARGON2}" + hasher.hash(s.replace(" ", "")) for s in secrets],
            )  # fmt: skip
            connector.close()
            assert ssha is not None and slow is not None
            last = secrets[-1].replace(" ", "")
            times: dict[str, list[float]] = {"account": [], "ssha512": [], "argon2": []}
            for _ in range(args.rounds):
                times["account"].append(bind_ms(server.url, person, ACCOUNT_PASSWORD))
                times["ssha512"].append(bind_ms(server.url, ssha, last))
                times["argon2"].append(bind_ms(server.url, slow, last))
    median = {k: statistics.median(v) for k, v in times.items()}
    results: dict[str, Any] = {
        "devices": args.devices,
        "rounds": args.rounds,
        "argon2": {
            "time_cost": args.time_cost,
            "memory_kib": args.memory_kib,
            "parallelism": args.parallelism,
        },  # fmt: skip
        "account_argon2_ms": round(median["account"], 2),
        "app_ssha512_ms": round(median["ssha512"], 2),
        "app_argon2_ms": round(median["argon2"], 2),
        "app_ssha512_to_account": round(median["ssha512"] / median["account"], 3),
        "app_argon2_to_account": round(median["argon2"] / median["account"], 3),
    }
    for key, value in results.items():
        print(f"{key}: {value}")
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    return 0
