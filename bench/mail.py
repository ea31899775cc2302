"""Mailboxes in bulk, against one throwaway slapd and one throwaway Postfix + Dovecot, in
one run (`python -m bench mail`).

* Where a mailbox's time went before (`cli_ms_per_step`): the old connector ran four
  doveadm processes per mailbox (auth cache flush, userdb lookup, mailbox create, quota
  get); each is timed here on its own, with a doveadm process that does no work.
* Baseline (`raw_mail_ops_per_s`): the mail server work the mail target does for a new
  mailbox, issued directly without IDHub: per batch of 200 users one doveadm HTTP API
  request (auth cache flushes, userdb lookups) and the Maildirs laid out. Measured before
  and after the hub's phases; the ratio uses the mean (the machine's speed drifts).
* `mail_converge_per_s`: a backlog of mail jobs (joiners entered through the HR batch
  API, their directory entries converged first) drained by an `idhub worker` process;
  from its first claim to the last mailbox converged. `mail_ratio` = that / the raw rate;
  `demo_mailboxes_converge_s`: the demo's 3,000 mailboxes at that rate.
* `leaver_imap_cut_p95_s_under_backlog`: with `--backlog` (5,000) mailbox creations
  queued and the worker draining them, leavers (each with an open IMAP session) are
  entered one after another; for each, the time from the HR change (ending their post)
  to their IMAP login refused and their open session ended
  (`leaver_refused_attempt_p95_s_under_backlog`: to the start of the refused login
  instead of its answer, which Dovecot 2.3 holds ~0.5 s even with auth_failure_delay =
  0: its failed-auth queue is checked every 500 ms). A leaver not cut within
  180 s is counted and explained (`not_cut_details`: which half held, the outcome of
  their last login, the outcome of one after a flush of Dovecot's cache by hand — a
  refusal then means the cache held a stale acceptance —, their audit with the seconds
  from the HR change, their jobs).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import func, select

from bench.mail_leavers import (
    ATTEMPT_REFUSED,
    PASSWORD,
    cut_off,
    explain_not_cut,
    imap_login,
    leaver_stages,
)
from bench.provisioning import national_id
from connectors.base import AccountKey
from connectors.ldap import LdapConnector
from idhub import create_app
from idhub.changes.chain import Actor
from idhub.changes.guard import Guard
from idhub.config import load_settings
from idhub.engine.targets.directory import DirectoryTarget
from idhub.engine.worker import Worker, WorkerSettings
from idhub.models import JobState, ProvisioningJob
from idhub.oidc.clients import create_client
from idhub.ops.devstack.mail import DOVEADM, LdapSource, MailStack
from idhub.ops.devstack.slapd import Slapd
from idhub.ops.migrate import upgrade
from idhub.services import ProvisioningSettings

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "mail.json"
BASE = "dc=bench,dc=gov,dc=vn"
HUB_BASE = f"ou=hub,{BASE}"
ADMIN_PASSWORD = "bench-admin-password"
BATCH = 200  # the worker's batch_size, for the raw baseline too
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hải", "Lan", "Mai", "Nga", "Sơn", "Yến")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- raw mail server work ---------------------------------------------------------------------
def add_raw_entries(slapd: Slapd, ou: str, count: int) -> list[tuple[str, str]]:
    """`count` mail accounts written straight into slapd: (uid, mailbox location)."""
    conn = slapd.connect()
    conn.add_s(f"ou={ou},{BASE}", [("objectClass", [b"organizationalUnit"]), ("ou", [ou.encode()])])
    users = []
    for n in range(count):
        key = str(uuid.uuid4())
        uid, location = f"{ou}{n}", f"{key[:2]}/{key}"
        conn.add_s(
            f"uid={uid},ou={ou},{BASE}",
            [
                ("objectClass", [b"inetOrgPerson", b"idhubPerson"]),
                ("uid", [uid.encode()]),
                ("cn", [b"Raw"]),
                ("sn", [b"Raw"]),
                ("mail", [f"{uid}@raw.gov.vn".encode()]),
                ("idhubPersonId", [key.encode()]),
                ("idhubAccountStatus", [b"active"]),
                ("idhubMailbox", [location.encode()]),
                ("idhubMailQuota", [b"1073741824"]),
            ],
        )
        users.append((uid, location))
    conn.unbind_s()
    return users


def doveadm_post(stack: MailStack, commands: list[list]) -> list[list]:
    token = base64.b64encode(f"doveadm:{stack.doveadm_password}".encode()).decode()
    tls = ssl.create_default_context(cafile=str(stack.tls.ca_file))
    conn = http.client.HTTPSConnection(stack.host, stack.doveadm_port, timeout=30, context=tls)
    try:
        conn.request(
            "POST",
            "/doveadm/v1",
            body=json.dumps(commands),
            headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"},
        )
        answer = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    failed = [a for a in answer if a[0] != "doveadmResponse"]
    assert not failed, failed[:3]
    return answer


def raw_mail_ops_per_s(stack: MailStack, users: list[tuple[str, str]], access: str) -> float:
    """What the mail target asks of Dovecot for new mailboxes, without the hub: per batch
    one request (flush each user's cached lookup, look them up: home, uid, quota), then
    the Maildirs made: by Dovecot in one more request (`mailbox status` of INBOX as each
    user; access "doveadm"), or laid out here and handed to the uid Dovecot named
    ("files")."""
    started = time.perf_counter()
    for start in range(0, len(users), BATCH):
        batch = [u for u, _ in users[start : start + BATCH]]
        flushes = [batch[n : n + 60] for n in range(0, len(batch), 60)]  # < 1 KiB lines
        lookups = [batch[n : n + 100] for n in range(0, len(batch), 100)]
        answer = doveadm_post(
            stack,
            [["authCacheFlush", {"user": f}, f"f{n}"] for n, f in enumerate(flushes)]
            + [["user", {"userMask": m}, f"u{n}"] for n, m in enumerate(lookups)],
        )
        found = {
            user: fields
            for kind, out, tag in answer
            if tag[0] == "u"
            for user, fields in out.items()
        }
        if access == "doveadm":
            doveadm_post(
                stack,
                [["mailboxStatus", {"user": u, "field": ["guid"], "mailboxMask": ["INBOX"]},
                  f"m{n}"] for n, u in enumerate(batch)],
            )  # fmt: skip
            continue
        for user, location in users[start : start + BATCH]:
            fields = found[user]
            home = stack.mail_root / location
            assert fields["home"] == str(home), (fields, home)
            uid, gid = int(fields["uid"]), int(fields["gid"])
            for path in (home.parent, home, home / "Maildir"):
                if not path.exists():
                    os.mkdir(path, 0o700)
                    os.chown(path, uid, gid)
            for sub in ("cur", "new", "tmp"):
                os.mkdir(home / "Maildir" / sub, 0o700)
                os.chown(home / "Maildir" / sub, uid, gid)
    return len(users) / (time.perf_counter() - started)


def cli_ms_per_step(stack: MailStack, users: list[tuple[str, str]]) -> dict[str, float]:
    """The old way, one doveadm process per command: the median of each of the four
    steps per mailbox, and of a doveadm process that does nothing (`doveadm help`)."""

    def run(*args: str) -> float:
        started = time.perf_counter()
        subprocess.run([DOVEADM, "-c", str(stack.dovecot_conf), *args], capture_output=True)
        return time.perf_counter() - started

    steps: dict[str, list[float]] = {
        "auth_cache_flush": [], "user_lookup": [], "mailbox_create": [], "quota_get": [],
        "process_alone": [],
    }  # fmt: skip
    for user, _ in users:
        steps["auth_cache_flush"].append(run("auth", "cache", "flush", user))
        steps["user_lookup"].append(run("-f", "tab", "user", user))
        steps["mailbox_create"].append(run("mailbox", "create", "-u", user, "INBOX"))
        steps["quota_get"].append(run("-f", "tab", "quota", "get", "-u", user))
        steps["process_alone"].append(run("help"))
    return {k: round(statistics.median(v) * 1000, 1) for k, v in steps.items()}


# -- the hub ----------------------------------------------------------------------------------
class MailHub:
    """The hub's database and settings on the throwaway slapd and mail stack; HR entered
    through the API in this process; `idhub worker` processes as deployed."""

    def __init__(
        self, workdir: Path, slapd: Slapd, stack: MailStack, database_url: str | None, access: str
    ):
        mail = {
            "enabled": True,
            "doveadm_config": str(stack.dovecot_conf),
            "mail_root": str(stack.mail_root),
            "archive_dir": str(workdir / "archive"),
            "doveadm_url": stack.doveadm_url,
            "doveadm_password": stack.doveadm_password,
            "doveadm_ca_file": str(stack.tls.ca_file),
            "mailbox_access": access,
        }
        self.settings = load_settings(
            overrides={
                "var_dir": str(workdir / "var"),
                "database": {"url": database_url or f"sqlite:///{workdir}/bench.db"},
                "ldap": {
                    "url": slapd.url,
                    "base_dn": HUB_BASE,
                    "bind_dn": slapd.admin_dn,
                    "password": ADMIN_PASSWORD,
                },
                "mail": mail,
                "dev_mail": {"enabled": False},
                "logging": {"format": "text", "level": "WARNING"},
            },
            environ={},
        )
        self.environment = {
            **os.environ,
            "IDHUB_VAR_DIR": self.settings["var_dir"],
            "IDHUB_DATABASE_URL": self.settings["database"]["url"],
            "IDHUB_LDAP_URL": slapd.url,
            "IDHUB_LDAP_BASE_DN": HUB_BASE,
            "IDHUB_LDAP_BIND_DN": slapd.admin_dn,
            "IDHUB_LDAP_PASSWORD": ADMIN_PASSWORD,
            "IDHUB_DEV_SLAPD_ENABLED": "false",
            "IDHUB_DEV_MAIL_ENABLED": "false",
            "IDHUB_LOGGING_LEVEL": "WARNING",
            **{f"IDHUB_MAIL_{k.upper()}": str(v).lower() if v is True else str(v)
               for k, v in mail.items()},
        }  # fmt: skip
        conn = slapd.connect()
        conn.add_s(HUB_BASE, [("objectClass", [b"organizationalUnit"]), ("ou", [b"hub"])])
        conn.unbind_s()
        self.app = create_app(self.settings)
        self.hub = self.app.extensions["idhub"]
        self.db = self.hub.db
        upgrade(self.db.engine)
        with self.db.transaction() as session:
            new = create_client(
                session, self.hub.keyring, self.hub.audit, Actor("cli", "bench"),
                name="bench", scopes=["admin"], allowed_scopes=["admin"],
            )  # fmt: skip
        self.client = self.app.test_client()
        token = self.client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(new.client_id, new.client_secret),
        ).json["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.unit = self.post(
            "/api/v1/org-units",
            {
                "code": "12",
                "name": "Ủy ban nhân dân tỉnh Lai Châu",
                "type": "province_committee",
                "valid_from": "2025-07-01",
                "mail_domain": "laichau.gov.vn",
            },
        )
        self.position = self.post(
            "/api/v1/positions", {"code": "CHUYEN_VIEN", "name": "Chuyên viên"}
        )
        self.serial = 0

    def post(self, url: str, body: dict) -> dict:
        response = self.client.post(url, json=body, headers=self.headers)
        assert response.status_code in (200, 201), response.json
        return response.json

    def joiners(self, count: int, batch: int = 500) -> list[tuple[str, str]]:
        """`count` joiners through the HR batch API: (person id, assignment id)."""
        made = []
        for offset in range(0, count, batch):
            items = []
            for _ in range(min(batch, count - offset)):
                n = self.serial
                self.serial += 1
                items.append(
                    {
                        "op": "create_person",
                        "ref": f"p{n}",
                        "data": {
                            "national_id": national_id(n),
                            "family_name": "Nguyễn",
                            "middle_name": "Văn",
                            "given_name": f"{GIVEN[n % len(GIVEN)]}",
                        },
                    }
                )
                items.append(
                    {
                        "op": "create_assignment",
                        "data": {
                            "person_id": f"ref:p{n}",
                            "unit_id": self.unit["id"],
                            "position_id": self.position["id"],
                            "kind": "primary",
                            "start_date": "2025-07-01",
                        },
                    }
                )
            done = self.post("/api/v1/batches", {"items": items})["items"]
            people = [i["id"] for i in done if i["op"] == "create_person"]
            posts = [i["id"] for i in done if i["op"] == "create_assignment"]
            made.extend(zip(people, posts, strict=True))
        return made

    def converge_directory(self) -> None:
        """The directory's jobs, in this process (they queue the mail jobs)."""
        section = self.hub.settings.section(ProvisioningSettings)
        target = DirectoryTarget(
            self.hub.connectors.directory(),
            self.hub.rules,
            base_dn=HUB_BASE,
            guard=Guard.from_settings(section),
            then=("mail",),
        )
        worker = Worker(
            self.db, self.hub.audit, target, settings=WorkerSettings.from_settings(section)
        )
        try:
            while worker.run_once():
                pass
        finally:
            worker.close()

    def pending(self) -> int:
        """Mail jobs not yet converged (parked ones aside)."""
        with self.db.reading() as session:
            return session.scalar(
                select(func.count(ProvisioningJob.id)).where(
                    ProvisioningJob.target == "mail", ProvisioningJob.state != JobState.FAILED
                )
            )

    def start_worker(self) -> subprocess.Popen:
        """`idhub worker` from this checkout (the `idhub` script may be another's)."""
        return subprocess.Popen(
            [sys.executable, "-m", "idhub.cli", "worker"],
            env={**self.environment, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
        )

    def wait_for_first_claim(self) -> float:
        while True:
            with self.db.reading() as session:
                if session.scalar(
                    select(ProvisioningJob.id).where(
                        ProvisioningJob.state == JobState.RUNNING, ProvisioningJob.target == "mail"
                    )
                ):
                    return time.time()
            time.sleep(0.005)

    def wait_for_empty(self, worker: subprocess.Popen) -> float:
        while self.pending():
            if worker.poll() is not None:
                raise RuntimeError("the worker process exited; see its output above")
            time.sleep(0.02)
        return time.time()

    def username(self, person_id: str) -> str:
        return self.client.get(f"/api/v1/people/{person_id}", headers=self.headers).json["username"]

    def set_password(self, person_id: str) -> None:
        from argon2 import PasswordHasher

        connector = LdapConnector(self.hub.connectors.ldap_config)
        try:
            connector.set_password_hash(
                AccountKey(person_id), "{ARGON2}" + PasswordHasher().hash(PASSWORD)
            )
        finally:
            connector.close()


def stop(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=120)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench mail", description=__doc__)
    parser.add_argument("--people", type=int, default=3000, help="mailboxes to converge (3000)")
    parser.add_argument("--backlog", type=int, default=5000, help="creations queued for leavers")
    parser.add_argument("--leavers", type=int, default=15)
    parser.add_argument("--cli-samples", type=int, default=40, help="mailboxes timed the old way")
    parser.add_argument("--database", help="database URL (default: SQLite in a temp folder)")
    parser.add_argument(
        "--access",
        choices=("doveadm", "files"),
        default="doveadm",
        help="[mail] mailbox_access of the hub and of the baseline (doveadm)",
    )
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="idhub-bench-mail-")
    os.chmod(tmp, 0o755)  # Dovecot's mail processes (user "mail") reach the mail root
    workdir = Path(tmp)
    slapd = Slapd(
        workdir / "slapd", base_dn=BASE, admin_dn=f"cn=admin,{BASE}", admin_password=ADMIN_PASSWORD
    ).start()
    # No failure delay nor anvil penalty: the bench probes refused logins on purpose, and
    # the delay would be counted as cut-off time (the guessing penalty is tested elsewhere).
    stack = MailStack(
        workdir / "mail",
        LdapSource(slapd.url, BASE, f"cn=admin,{BASE}", ADMIN_PASSWORD),
        auth_failure_delay_s=0,
        auth_penalty=False,
    ).start()
    try:
        cli = cli_ms_per_step(stack, add_raw_entries(slapd, "cli", args.cli_samples))
        print(
            "one doveadm process per step (median ms): "
            + ", ".join(f"{k} {v}" for k, v in cli.items())
        )
        raw_before = raw_mail_ops_per_s(
            stack, add_raw_entries(slapd, "rawa", args.people), args.access
        )
        print(f"raw mail server work:      {raw_before:8.0f} mailboxes/s ({args.people}, before)")

        hub = MailHub(workdir, slapd, stack, args.database, args.access)
        # Leavers-to-be first: converged with mailboxes and passwords.
        leavers = hub.joiners(args.leavers)
        hub.converge_directory()
        worker = hub.start_worker()
        hub.wait_for_empty(worker)
        stop(worker)
        for person_id, _ in leavers:
            hub.set_password(person_id)
        # Their sessions opened now, on an idle server (each login is an argon2 check in
        # slapd, and Dovecot binds one at a time); the logins are cached from here on.
        leavers4 = []
        for person_id, post_id in leavers:
            user = hub.username(person_id)
            session = imap_login(stack, user)
            session.select("INBOX")
            leavers4.append((person_id, post_id, user, session))

        # The mail target alone: a backlog of mailbox creations drained by a worker.
        hub.joiners(args.people)
        hub.converge_directory()
        queued = hub.pending()
        worker = hub.start_worker()
        started = hub.wait_for_first_claim()
        rate = queued / (hub.wait_for_empty(worker) - started)
        stop(worker)
        print(f"mail target (backlog):     {rate:8.0f} mailboxes/s ({queued} jobs)")
        raw_after = raw_mail_ops_per_s(
            stack, add_raw_entries(slapd, "rawb", args.people), args.access
        )
        raw = (raw_before + raw_after) / 2
        print(f"raw mail server work:      {raw_after:8.0f} mailboxes/s ({args.people}, after)")
        print(f"ratio to raw ({raw:.0f} /s, mean of before and after): {rate / raw:.2f}")

        # Leavers behind a backlog of creations, the worker draining it.
        hub.joiners(args.backlog)
        hub.converge_directory()
        backlog_queued = hub.pending()
        worker = hub.start_worker()
        hub.wait_for_first_claim()
        cuts: dict[str, float] = {}
        left: dict[str, int] = {}
        threads = [
            threading.Thread(target=cut_off, args=(hub, stack, leaver, 0.2 * n, cuts, left))
            for n, leaver in enumerate(leavers4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        hub.wait_for_empty(worker)
        stop(worker)
        values = [v for v in cuts.values() if v != float("inf")]
        not_cut = len(cuts) - len(values)
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        stages = leaver_stages(hub)
        not_cut_details = explain_not_cut(hub)
        for user, detail in not_cut_details.items():
            print(f"NOT cut within the bound: {user}: {detail}")
        print(f"leaver stages (median s from the HR change, recorded): {stages}")
        print(
            f"leaver IMAP cut-off behind {backlog_queued} queued: p50 {p50:.2f} s, p95 {p95:.2f} s"
            f" (from the HR change to the start of the refused login: p95 "
            f"{percentile(list(ATTEMPT_REFUSED.values()) or [0.0], 0.95):.2f} s)"
            f" (jobs still queued at the cuts: {min(left.values(), default=0)}-"
            f"{max(left.values(), default=0)})"
        )
    finally:
        stack.stop()
        slapd.stop()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)

    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": "postgresql" if args.database and "postgresql" in args.database else "sqlite",
        "people": args.people,
        "mailbox_access": args.access,
        "cli_ms_per_step": cli,
        "raw_mail_ops_per_s": round(raw, 1),
        "raw_mail_ops_before_per_s": round(raw_before, 1),
        "raw_mail_ops_after_per_s": round(raw_after, 1),
        "mail_converge_per_s": round(rate, 1),
        "mail_ratio": round(rate / raw, 3),
        "demo_mailboxes_converge_s": round(3000 / rate, 2),
        "backlog_queued": backlog_queued,
        "leavers": len(values),
        "leavers_not_cut_within_180_s": not_cut,
        "not_cut_details": not_cut_details,
        "leaver_imap_cut_p50_s_under_backlog": round(p50, 3),
        "leaver_imap_cut_p95_s_under_backlog": round(p95, 3),
        # The same leavers, up to the start of the refused login rather than its answer.
        "leaver_refused_attempt_p95_s_under_backlog": round(
            percentile(list(ATTEMPT_REFUSED.values()), 0.95), 3
        )
        if ATTEMPT_REFUSED
        else None,
        "backlog_left_at_cuts": sorted(left.values()),
        "leaver_stages_p50_s": stages,
    }
    results = RESULTS if args.access == "doveadm" else RESULTS.with_name("mail-files.json")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {results}")
    return 0
