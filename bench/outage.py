"""Recovery after a directory outage, against one throwaway slapd, in one run.

Baseline: N joiners (a backlog committed through the batch API) drained by `idhub worker`
processes with no outage. Then N more, drained again, with slapd stopped for --outage
seconds once about half of them are in the directory. Reported:

* clean_s: the first drain, from the first claim to the last job done;
* rest_after_outage_s: from slapd answering again to the last job done;
* rest_without_outage_s: what the same number of jobs took in the clean drain (its rate);
* recovery_ratio: rest_after_outage_s / rest_without_outage_s (goal ≤ 2);
* with_outage_s and total_ratio: the second drain minus the outage, against clean_s;
* unavailable_warnings and back_summaries: what the workers logged about the outage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.provisioning import (
    BASE,
    ROOT,
    Hub,
    stop_workers,
    wait_for_empty_queue,
    wait_for_first_claim,
)
from idhub.models import ProvisioningJob
from idhub.ops.devstack.slapd import Slapd

RESULTS = ROOT / "bench" / "results" / "outage.json"


def start_workers(hub: Hub, count: int, log: Path) -> list[subprocess.Popen]:
    """`idhub worker` processes logging at INFO into `log` (the outage's lines are counted)."""
    idhub = Path(sys.executable).with_name("idhub")
    env = {
        **hub.worker_environment(),
        "IDHUB_LOGGING_LEVEL": "INFO",
        "IDHUB_LOGGING_FORMAT": "text",
    }
    with log.open("ab") as out:
        return [
            subprocess.Popen([str(idhub), "worker"], env=env, cwd=ROOT, stdout=out, stderr=out)
            for _ in range(count)
        ]


def jobs_left(hub: Hub) -> int:
    with hub.db.reading() as session:
        return session.scalar(select(func.count()).select_from(ProvisioningJob)) or 0


def submit(hub: Hub, people: int, batch: int) -> None:
    for offset in range(0, people, batch):
        hub.joiners(min(batch, people - offset))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench outage", description=__doc__)
    parser.add_argument("--people", type=int, default=2000, help="joiners per drain")
    parser.add_argument("--outage", type=float, default=60.0, help="seconds slapd is stopped")
    parser.add_argument("--batch", type=int, default=500, help="joiners per API batch")
    parser.add_argument("--workers", type=int, default=1, help="`idhub worker` processes")
    parser.add_argument("--database", help="database URL (default: SQLite in a temp folder)")
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
            hub = Hub(workdir, server, args.database)

            # Without an outage: a backlog drained.
            submit(hub, args.people, args.batch)
            workers = start_workers(hub, args.workers, workdir / "clean.log")
            started = wait_for_first_claim(hub)
            clean_s = wait_for_empty_queue(hub, workers) - started
            stop_workers(workers)
            print(f"without an outage:   {args.people} joiners in {clean_s:6.2f} s")

            # The same again, slapd stopped once about half are done.
            log = workdir / "outage.log"
            submit(hub, args.people, args.batch)
            workers = start_workers(hub, args.workers, log)
            started = wait_for_first_claim(hub)
            while (left := jobs_left(hub)) > args.people // 2:
                time.sleep(0.01)
            server.stop()
            time.sleep(args.outage)
            server.start()
            back = time.time()
            converged = wait_for_empty_queue(hub, workers)
            stop_workers(workers)
        finally:
            server.stop()
        lines = log.read_text(errors="replace").splitlines()

    rest_s = converged - back
    rest_without_s = clean_s * left / args.people
    with_outage_s = converged - started - args.outage
    warnings = sum("unavailable" in line for line in lines)
    summaries = sum("back after" in line for line in lines)
    print(f"with a {args.outage:.0f} s outage:  {left} jobs left when slapd stopped")
    print(
        f"  the rest after slapd answered: {rest_s:6.2f} s"
        f" (without an outage {rest_without_s:.2f} s)"
    )
    print(
        f"  recovery ratio {rest_s / rest_without_s:.2f} (goal ≤ 2);"
        f" whole drain minus the outage {with_outage_s:.2f} s"
    )
    print(f"  worker log: {warnings} 'unavailable' warnings, {summaries} recovery summaries")
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "people": args.people,
        "workers": args.workers,
        "database": "postgresql" if args.database and "postgresql" in args.database else "sqlite",
        "outage_s": args.outage,
        "clean_s": round(clean_s, 3),
        "jobs_left_at_outage": left,
        "rest_after_outage_s": round(rest_s, 3),
        "rest_without_outage_s": round(rest_without_s, 3),
        "recovery_ratio": round(rest_s / rest_without_s, 3),
        "with_outage_s": round(with_outage_s, 3),
        "total_ratio": round(with_outage_s / clean_s, 3),
        "unavailable_warnings": warnings,
        "back_summaries": summaries,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0
