"""Provisioning throughput and latency, against one throwaway slapd, in one run.

Baseline: raw python-ldap adds per second on the same slapd (synchronous add_s, the
directory's own limit on this machine), measured before and after the hub's phases; the
ratios use the mean of the two, because the machine's speed drifts during a run. Then the
whole hub: HR joiners entered through the batch API (in-process Flask client) → outbox
jobs → `idhub worker` processes (separate processes, as deployed) → LDAP. Reported:

* converge_joiners_per_s: joiners / (first batch submitted → last account converged);
* converge_ratio: that rate / the raw add rate (target ≥ 0.5);
* commit_to_ldap_p50_s / p95_s: from an HR commit to the account written in LDAP, for
  single joiners entered one by one at a steady pace on an otherwise idle hub (target
  p95 < 1 s). The write time is the converge audit event, recorded right after the
  directory answered.
* cpu_ms_per_joiner: the CPU slapd, the workers, the API and (when it runs on this
  machine) the PostgreSQL server spent per joiner while it converged: where the cores went.

`--people` sets the size (the results file records it): the per-joiner figures should not
grow with it. WARMUP joiners are converged first and not counted (start-up, first round).
`--profile DIR` samples the API process and the workers with py-spy (a development tool:
`pip install py-spy`) during the end-to-end phase, into collapsed stacks DIR/api.txt and
DIR/worker-N.txt, and stops there (no results file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select, text

from idhub import create_app
from idhub.changes.chain import Actor
from idhub.config import load_settings
from idhub.models import AuditEvent, JobState, ProvisioningJob
from idhub.oidc.clients import create_client
from idhub.ops.devstack.slapd import Slapd
from idhub.ops.gc import settle_after_startup
from idhub.ops.migrate import upgrade

# Names rotate so collisions happen at realistic rates (the "Nguyễn Văn An" case too).
FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Lò", "Vàng", "Giàng")
MIDDLE = ("Văn", "Thị", "Minh", "Ngọc", "Quang", "Thu")
GIVEN = (
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Đức",
    "Hải",
    "Hùng",
    "Huy",
    "Lan",
    "Linh",
    "Mai",
    "Nga",
    "Phương",
    "Quân",
    "Sơn",
    "Thảo",
    "Trang",
    "Tuấn",
    "Vân",
    "Yến",
)
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "provisioning.json"
BASE = "dc=bench,dc=gov,dc=vn"
WARMUP = 100  # joiners converged before the end-to-end phase is measured


def national_id(n: int) -> str:
    """The bench's n-th CCCD: province code 001 (Hà Nội), so the hub's check accepts it."""
    return f"001{n:09d}"


def serial_of(nid: str) -> int:
    return int(nid[3:])


def raw_adds_per_s(server: Slapd, count: int, ou: str = "raw") -> float:
    conn = server.connect()
    conn.add_s(f"ou={ou},{BASE}", [("objectClass", [b"organizationalUnit"]), ("ou", [ou.encode()])])
    started = time.perf_counter()
    for n in range(count):
        conn.add_s(
            f"uid=raw{n},ou={ou},{BASE}",
            [
                ("objectClass", [b"inetOrgPerson"]),
                ("uid", [f"raw{n}".encode()]),
                ("cn", [f"Nguyễn Văn Raw {n}".encode()]),
                ("sn", [b"Nguyen"]),
                ("mail", [f"raw{n}@bench.gov.vn".encode()]),
            ],
        )
    elapsed = time.perf_counter() - started
    conn.unbind_s()
    return count / elapsed


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: [0] state, [1] ppid, [11:13] utime and
    stime, [13:15] the same for reaped children, in clock ticks."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _ticks(fields: list[str], children: bool = False) -> int:
    return sum(int(v) for v in fields[11 : 15 if children else 13])


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    return _ticks(_stat(pid)) / os.sysconf("SC_CLK_TCK")


def database_server_cpu_seconds(postmaster: int) -> float:
    """CPU a local PostgreSQL server has used: the postmaster, its live children, and the
    children it has reaped (added to its cutime / cstime)."""
    ticks = _ticks(_stat(postmaster), children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(int(entry.name))
            except OSError:  # gone meanwhile
                continue
            if fields[1] == str(postmaster):
                ticks += _ticks(fields)
    return ticks / os.sysconf("SC_CLK_TCK")


def local_postmaster(db) -> int | None:  # type: ignore[no-untyped-def]
    """The pid of the PostgreSQL server behind `db` when it runs on this machine."""
    if db.dialect != "postgresql":
        return None
    with db.engine.connect() as conn:
        backend = conn.scalar(text("SELECT pg_backend_pid()"))
    try:
        return int(_stat(backend)[1])
    except OSError:  # another machine's
        return None


class CpuMeter:
    """CPU used by slapd, the worker processes, this process (the HR API) and a local
    PostgreSQL server over a phase: where the two cores went, in ms per item.

    The API's share ends at `api_done` (its last batch committed): what this process
    spends after that is the bench waiting for the queue to drain, whose cost grows with
    how long the wait is, not with the API's work."""

    def __init__(
        self, slapd_pid: int, workers: list[subprocess.Popen], postmaster: int | None = None
    ) -> None:
        self.pids = {"slapd": [slapd_pid], "workers": [w.pid for w in workers]}
        self.postmaster = postmaster
        self.start = self._read()
        self.api_end: float | None = None

    def _read(self) -> dict[str, float]:
        used = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.pids.items()}
        used["api"] = time.process_time()
        if self.postmaster is not None:
            used["postgresql"] = database_server_cpu_seconds(self.postmaster)
        return used

    def api_done(self) -> None:
        self.api_end = time.process_time()

    def per_item_ms(self, count: int) -> dict[str, float]:
        end = self._read()
        if self.api_end is not None:
            end["api"] = self.api_end
        return {name: round((end[name] - self.start[name]) * 1000 / count, 3) for name in end}


class Profiles:
    """py-spy sampling the given processes into collapsed stacks, until `stop`."""

    def __init__(self, folder: str | None, pids: dict[str, int]) -> None:
        self.samplers: list[subprocess.Popen] = []
        if folder is None:
            return
        Path(folder).mkdir(parents=True, exist_ok=True)
        py_spy = Path(sys.executable).with_name("py-spy")
        for name, pid in pids.items():
            self.samplers.append(
                subprocess.Popen(
                    [str(py_spy), "record", "--pid", str(pid), "--rate", "250", "--format", "raw"]
                    + ["--nonblocking", "--output", f"{folder}/{name}.txt"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        time.sleep(1.0)  # attached

    def stop(self) -> None:
        for sampler in self.samplers:
            sampler.send_signal(signal.SIGINT)
        for sampler in self.samplers:
            sampler.wait(timeout=60)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class HubProcesses:
    """The hub's database and settings on one throwaway slapd, and `idhub worker` processes
    that share them (separate processes, as deployed)."""

    def __init__(self, workdir: Path, server: Slapd, database_url: str | None) -> None:
        settings = load_settings(
            overrides={
                "var_dir": str(workdir / "var"),
                "database": {"url": database_url or f"sqlite:///{workdir}/bench.db"},
                "ldap": {
                    "url": server.url,
                    "base_dn": f"ou=hub,{BASE}",
                    "bind_dn": server.admin_dn,
                    "password": "bench-admin-password",
                },
                "logging": {"format": "text", "level": "WARNING"},
            },
            environ={},
        )
        conn = server.connect()
        conn.add_s(f"ou=hub,{BASE}", [("objectClass", [b"organizationalUnit"]), ("ou", [b"hub"])])
        conn.unbind_s()
        self.settings = settings
        self.app = create_app(settings)
        self.db = self.app.extensions["idhub"].db
        upgrade(self.db.engine)
        settle_after_startup()  # this process serves the API, tuned as a gunicorn worker is

    def worker_environment(self) -> dict[str, str]:
        """What an `idhub worker` process needs to share this hub's database and directory."""
        ldap = self.settings["ldap"]
        return {
            **os.environ,
            "IDHUB_VAR_DIR": self.settings["var_dir"],
            "IDHUB_DATABASE_URL": self.settings["database"]["url"],
            "IDHUB_LDAP_URL": ldap["url"],
            "IDHUB_LDAP_BASE_DN": ldap["base_dn"],
            "IDHUB_LDAP_BIND_DN": ldap["bind_dn"],
            "IDHUB_LDAP_PASSWORD": ldap["password"],
            "IDHUB_DEV_SLAPD_ENABLED": "false",
            "IDHUB_LOGGING_LEVEL": "WARNING",
        }

    def start_workers(self, count: int) -> list[subprocess.Popen]:
        idhub = Path(sys.executable).with_name("idhub")
        return [
            subprocess.Popen([str(idhub), "worker"], env=self.worker_environment(), cwd=ROOT)
            for _ in range(count)
        ]

    def queue_empty(self) -> bool:
        with self.db.transaction() as session:
            return session.scalar(select(ProvisioningJob.id).limit(1)) is None


class Hub(HubProcesses):
    """The provisioning benchmark's hub: an org tree made through the API."""

    def __init__(self, workdir: Path, server: Slapd, database_url: str | None) -> None:
        super().__init__(workdir, server, database_url)
        with self.db.transaction() as session:
            new = create_client(
                session,
                self.app.extensions["idhub"].keyring,
                self.app.extensions["idhub"].audit,
                Actor("cli", "bench"),
                name="bench",
                scopes=["admin"],
                allowed_scopes=["admin"],
            )
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
        self.units = [
            self.post(
                "/api/v1/org-units",
                {
                    "code": f"C{n:03d}",
                    "name": f"Ủy ban nhân dân xã Số {n}",
                    "type": "commune_committee",
                    "valid_from": "2025-07-01",
                    "parent_id": self.unit["id"],
                },
            )
            for n in range(20)
        ]
        self.position = self.post(
            "/api/v1/positions", {"code": "CHUYEN_VIEN", "name": "Chuyên viên"}
        )
        self.serial = 0

    def post(self, url: str, body: dict) -> dict:
        response = self.client.post(url, json=body, headers=self.headers)
        assert response.status_code in (200, 201), response.json
        return response.json

    def joiners(self, count: int) -> float:
        """Submit `count` joiners in one batch; returns the commit time (epoch seconds)."""
        items = []
        for _ in range(count):
            n = self.serial
            self.serial += 1
            items.append(
                {
                    "op": "create_person",
                    "ref": f"p{n}",
                    "data": {
                        "national_id": national_id(n),
                        "family_name": FAMILY[n % len(FAMILY)],
                        "middle_name": MIDDLE[n // len(FAMILY) % len(MIDDLE)],
                        "given_name": GIVEN[n // (len(FAMILY) * len(MIDDLE)) % len(GIVEN)],
                    },
                }
            )
            items.append(
                {
                    "op": "create_assignment",
                    "data": {
                        "person_id": f"ref:p{n}",
                        "unit_id": self.units[n % len(self.units)]["id"],
                        "position_id": self.position["id"],
                        "kind": "primary",
                        "start_date": "2025-07-01",
                    },
                }
            )
        self.post("/api/v1/batches", {"items": items})
        return time.time()

    def create_times(self) -> dict[str, float]:
        with self.db.transaction() as session:
            rows = session.execute(
                select(AuditEvent.object_id, AuditEvent.at).where(
                    AuditEvent.action == "account.create"
                )
            )
            return {object_id: at.timestamp() for object_id, at in rows}


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for process in workers:
        process.send_signal(signal.SIGTERM)
    for process in workers:
        process.wait(timeout=60)


def wait_for_empty_queue(hub: Hub, workers: list[subprocess.Popen]) -> float:
    while not hub.queue_empty():
        if any(process.poll() is not None for process in workers):
            raise RuntimeError("a worker process exited; see its output above")
        time.sleep(0.02)
    return time.time()


def wait_for_first_claim(hub: Hub) -> float:
    """When a worker took its first job (so start-up time is not counted)."""
    while True:
        with hub.db.transaction() as session:
            if session.scalar(
                select(ProvisioningJob.id).where(ProvisioningJob.state == JobState.RUNNING)
            ):
                return time.time()
        time.sleep(0.005)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--people", type=int, default=3000, help="bulk joiners (default 3000)")
    parser.add_argument("--batch", type=int, default=500, help="joiners per API batch")
    parser.add_argument("--latency-samples", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1, help="`idhub worker` processes")
    parser.add_argument("--database", help="database URL (default: SQLite in a temp folder)")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the end-to-end phase into DIR")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="idhub-bench-") as tmp:
        workdir = Path(tmp)
        server = Slapd(
            workdir / "slapd",
            base_dn=BASE,
            admin_dn=f"cn=admin,{BASE}",
            admin_password="bench-admin-password",
        ).start()
        try:
            raw_before = raw_adds_per_s(server, args.people)
            print(
                f"raw python-ldap adds:      {raw_before:8.0f} /s  ({args.people} entries, before)"
            )
            hub = Hub(workdir, server, args.database)

            # Throughput: everything submitted while the workers converge it as it arrives.
            workers = hub.start_workers(args.workers)
            # Warm-up, not counted: the workers' start-up (imports, connections, a loaded
            # machine may stretch it well past any fixed wait) and the one-time work of a
            # first round (the OUs, the groups' OU, compiled statements), so that the CPU
            # per joiner is the same kind of figure for 3,000 people as for 30,000.
            hub.joiners(WARMUP)
            wait_for_empty_queue(hub, workers)
            profiles = Profiles(
                args.profile,
                {"api": os.getpid(), **{f"worker-{n}": w.pid for n, w in enumerate(workers)}},
            )
            meter = CpuMeter(server.pid, workers, local_postmaster(hub.db))
            started = time.time()
            for offset in range(0, args.people, args.batch):
                hub.joiners(min(args.batch, args.people - offset))
            submitted = time.time()
            meter.api_done()
            converged = wait_for_empty_queue(hub, workers)
            cpu = meter.per_item_ms(args.people)
            profiles.stop()
            if args.profile:  # a profiling run measures only this phase; no results file
                stop_workers(workers)
                return 0
            rate = args.people / (converged - started)
            print(
                f"HR API batches committed:  {args.people / (submitted - started):8.0f} joiners/s"
            )
            print(f"converged through the hub: {rate:8.0f} joiners/s")
            print(
                "CPU per joiner:            "
                + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items())
            )
            stop_workers(workers)

            # The workers alone: a backlog of joiners already committed, then drained.
            backlog_started = time.time()
            for offset in range(0, args.people, args.batch):
                hub.joiners(min(args.batch, args.people - offset))
            ingest_rate = args.people / (time.time() - backlog_started)
            workers = hub.start_workers(args.workers)
            drain_started = wait_for_first_claim(hub)
            worker_rate = args.people / (wait_for_empty_queue(hub, workers) - drain_started)
            print(f"HR batch API alone:        {ingest_rate:8.0f} joiners/s committed")
            print(f"workers alone (backlog):   {worker_rate:8.0f} joiners/s")

            # Latency: single joiners at a steady pace on an idle hub.
            first = hub.serial
            commits: dict[int, float] = {}
            for _ in range(args.latency_samples):
                serial = hub.serial
                commits[serial] = hub.joiners(1)
                time.sleep(0.1)
            wait_for_empty_queue(hub, workers)
            stop_workers(workers)
            created = hub.create_times()
            from idhub.models import Person

            with hub.db.transaction() as session:
                # The CCCD is sealed: no range on it in SQL, so opened and compared here.
                ids = {
                    serial_of(nid): str(pid)
                    for pid, nid in session.execute(select(Person.id, Person.national_id))
                    if nid >= national_id(first)
                }
            latencies = [created[ids[s]] - commits[s] for s in commits if ids.get(s) in created]
            p50, p95 = percentile(latencies, 0.50), percentile(latencies, 0.95)
            print(
                f"commit → LDAP latency:     p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms "
                f"({len(latencies)} joiners, mean {statistics.mean(latencies) * 1000:.0f} ms)"
            )
            # The baseline again, after the hub's phases: the machine's speed drifts, so
            # the ratios use the mean of the two.
            raw_after = raw_adds_per_s(server, args.people, ou="raw-after")
            raw = (raw_before + raw_after) / 2
            print(f"raw python-ldap adds:      {raw_after:8.0f} /s  ({args.people} entries, after)")
            print(
                f"ratios to the raw baseline ({raw:.0f} /s, mean of before and after): "
                f"through the hub {rate / raw:.2f}, workers alone {worker_rate / raw:.2f}"
            )
        finally:
            server.stop()

    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "people": args.people,
        "database": "postgresql" if args.database and "postgresql" in args.database else "sqlite",
        "ldap_raw_add_per_s": round(raw, 1),
        "ldap_raw_add_before_per_s": round(raw_before, 1),
        "ldap_raw_add_after_per_s": round(raw_after, 1),
        "converge_joiners_per_s": round(rate, 1),
        "converge_ratio": round(rate / raw, 3),
        "hr_batch_api_joiners_per_s": round(ingest_rate, 1),
        "worker_converge_per_s": round(worker_rate, 1),
        "worker_ratio": round(worker_rate / raw, 3),
        "workers": args.workers,
        "cpu_ms_per_joiner": cpu,
        "commit_to_ldap_p50_s": round(p50, 4),
        "commit_to_ldap_p95_s": round(p95, 4),
        "latency_samples": len(latencies),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0
