"""Flat cost: CPU per joiner in a hub of 3,000 people against one of 30,000, side by side.

`python -m bench provisioning --people N` reports the CPU per joiner averaged over entering
N people, one size per run. On a shared two-core machine the speed drifts between runs (and
within a 30,000 run) by more than the 15 % the goal allows, so two such runs do not compare.
Here both sizes live in one process at once:

* two hubs, each with its own throwaway slapd, database and `idhub worker` processes, are
  filled through the batch API (not measured; to what size, see below);
* then, --rounds times, a probe of --probe joiners goes into each hub in turn (the order
  alternates: small, large, large, small, …), and the CPU each part spent on it is read.
  The hub's workers are frozen (SIGSTOP) while the API commits the probe's batches, whose
  CPU is this process's (`time.process_time`); then they are let go (SIGCONT) and their
  CPU and slapd's (on-CPU time of every thread, /proc/<pid>/task/*/schedstat) are read
  from then to the last job done. So each figure is that part's own work: no idle polls
  of the workers during the API's batches, no waits of one for the other's write lock.
  Process CPU, not wall time: the other sessions' load stretches the wall clock far more
  than the CPU a piece of work needs.
* Reported per hub: the median over the rounds of the ms per joiner, and the ratio
  large / small of the medians for the API and the workers (goal ≤ 1.15), with each round's
  own ratio to show the spread.

The probes add to the hubs, so each is filled to its size less half the probes: the
probes into the small hub span 500 … 5,500 people with the defaults, centred on 3,000,
and those into the large one 27,500 … 32,500 (the results file records both spans).
`--profile DIR` samples the probe phases with py-spy: DIR/{small,large}-api.txt and
-worker-N.txt (collapsed stacks).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from bench.provisioning import (
    BASE,
    ROOT,
    Hub,
    Profiles,
    stop_workers,
    wait_for_empty_queue,
)
from idhub.ops.devstack.slapd import Slapd

RESULTS = ROOT / "bench" / "results" / "flat.json"
PARTS = ("api", "workers")


def on_cpu_s(pid: int) -> float:
    """CPU a process has used so far, summed over its threads, to the nanosecond
    (/proc/<pid>/task/*/schedstat; the clock ticks of /proc/<pid>/stat are 10 ms, 4 % of
    a probe's worker CPU)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):  # a thread gone meanwhile
            continue
    return total / 1e9


class Sized:
    """One hub with its slapd and workers, filled to a size."""

    def __init__(self, name: str, workdir: Path, people: int, args: argparse.Namespace) -> None:
        self.name = name
        self.server = Slapd(
            workdir / f"slapd-{name}",
            base_dn=BASE,
            admin_dn=f"cn=admin,{BASE}",
            admin_password="bench-admin-password",
        ).start()
        (workdir / name).mkdir()
        self.hub = Hub(workdir / name, self.server, None)
        self.workers = self.hub.start_workers(args.workers)
        self.batch = args.batch
        self.submit(people)
        wait_for_empty_queue(self.hub, self.workers)
        self.samples: list[dict[str, float]] = []

    def submit(self, people: int) -> None:
        for offset in range(0, people, self.batch):
            self.hub.joiners(min(self.batch, people - offset))

    def probe(self, people: int, profile: str | None) -> dict[str, float]:
        profiles = Profiles(
            profile,
            {
                f"{self.name}-api": os.getpid(),
                **{f"{self.name}-worker-{n}": w.pid for n, w in enumerate(self.workers)},
            },
        )
        time.sleep(0.2)  # the last round's record and the next idle poll are over
        for worker in self.workers:  # frozen while the API works: no polls, no lock waits
            worker.send_signal(signal.SIGSTOP)
        api = time.process_time()
        self.submit(people)
        api = time.process_time() - api
        pids = {"slapd": [self.server.pid or 0], "workers": [w.pid for w in self.workers]}
        before = {part: sum(map(on_cpu_s, group)) for part, group in pids.items()}
        for worker in self.workers:
            worker.send_signal(signal.SIGCONT)
        wait_for_empty_queue(self.hub, self.workers)
        used = {
            part: round((sum(map(on_cpu_s, group)) - before[part]) * 1000 / people, 3)
            for part, group in pids.items()
        }
        used["api"] = round(api * 1000 / people, 3)
        profiles.stop()
        self.samples.append(used)
        return used

    def median(self, part: str) -> float:
        return statistics.median(sample[part] for sample in self.samples)

    def close(self) -> None:
        stop_workers(self.workers)
        self.server.stop()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench flat", description=__doc__)
    parser.add_argument(
        "--small", type=int, default=3000, help="people in the small hub (mid-probes)"
    )
    parser.add_argument(
        "--large", type=int, default=30000, help="people in the large hub (mid-probes)"
    )
    parser.add_argument("--probe", type=int, default=500, help="joiners per measured probe")
    parser.add_argument("--rounds", type=int, default=10, help="probes into each hub")
    parser.add_argument("--batch", type=int, default=500, help="joiners per API batch")
    parser.add_argument("--workers", type=int, default=2, help="`idhub worker` processes each")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the probes into DIR")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="idhub-bench-") as tmp:
        workdir = Path(tmp)
        hubs: list[Sized] = []
        try:
            started = time.time()
            for name, people in (("small", args.small), ("large", args.large)):
                hubs.append(Sized(name, workdir, people - args.rounds * args.probe // 2, args))
                print(f"{name} hub filled ({time.time() - started:.0f} s)")
            small, large = hubs
            ratios: dict[str, list[float]] = {part: [] for part in PARTS}
            for n in range(args.rounds):
                order = (small, large) if n % 2 == 0 else (large, small)
                used = {hub.name: hub.probe(args.probe, args.profile) for hub in order}
                for part in PARTS:
                    ratios[part].append(used["large"][part] / used["small"][part])
                print(
                    f"round {n + 1}: "
                    + "; ".join(
                        f"{name} " + ", ".join(f"{p} {used[name][p]:.3f}" for p in used[name])
                        for name in ("small", "large")
                    )
                    + " ms per joiner"
                )
        finally:
            for hub in hubs:
                hub.close()

    medians = {
        hub.name: {part: round(hub.median(part), 3) for part in (*PARTS, "slapd")} for hub in hubs
    }
    ratio = {part: round(medians["large"][part] / medians["small"][part], 3) for part in PARTS}
    for part in PARTS:
        print(
            f"{part}: median {medians['small'][part]:.3f} ms per joiner at {args.small},"
            f" {medians['large'][part]:.3f} at {args.large}: ratio {ratio[part]:.2f}"
            f" (rounds {', '.join(f'{r:.2f}' for r in ratios[part])}; goal ≤ 1.15)"
        )
    if args.profile:
        return 0
    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": "sqlite",
        "workers": args.workers,
        "batch": args.batch,
        "people": {"small": args.small, "large": args.large},
        "probe_joiners": args.probe,
        "rounds": args.rounds,
        "people_during_probes": {
            name: [size - args.rounds * args.probe // 2, size + args.rounds * args.probe // 2]
            for name, size in (("small", args.small), ("large", args.large))
        },
        "cpu_ms_per_joiner_median": medians,
        "ratio_large_to_small": ratio,
        "ratio_per_round": {part: [round(r, 3) for r in ratios[part]] for part in PARTS},
        "cpu_ms_per_joiner_rounds": {hub.name: hub.samples for hub in hubs},
        "goal_ratio_at_most": 1.15,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0
