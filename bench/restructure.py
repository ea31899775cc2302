"""Restructure throughput: the 2025 reform of a real province, against one slapd, one run.

Baseline: raw python-ldap modrdn moves per second on the same slapd (synchronous
rename_s of plain entries from one OU to another, the directory's own limit), measured
before and after the hub's phases; the ratios use the mean of the two. Then the
hub: the pre-2025 tree of a real province with N staff (converged first), the reform's
change set (districts abolished, communes merged and split) applied in one transaction,
and `idhub worker` processes converging everyone. Reported:

* restructure_moves_per_s: people moved / (apply committed → last person converged);
* restructure_ratio: that rate / the raw modrdn rate (target ≥ 0.5);
* raw_move_and_modify_per_s: a second baseline, the least LDAP work one mover needs —
  modrdn, then one modify of the unit attributes and one group membership (what the
  hub sends per mover) — and restructure_ratio_vs_move_and_modify against it, i.e.
  how close the hub comes to the directory's own limit for this job;
* apply_to_converged_s, and the apply and preview times themselves.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

import ldap

from idhub.changes.chain import Actor
from idhub.changes.context import HrContext
from idhub.models import ChangeSet
from idhub.ops.demo.reform import (
    holders_by_commune,
    load_pre_reform,
    read_legacy,
    reform_change_set,
)
from idhub.ops.devstack.slapd import Slapd
from idhub.reorg import changesets
from idhub.reorg.preview import preview
from idhub.reorg.schemas import ChangeSetSchema

from .provisioning import (
    BASE,
    ROOT,
    CpuMeter,
    HubProcesses,
    local_postmaster,
    stop_workers,
    wait_for_empty_queue,
)

RESULTS = ROOT / "bench" / "results" / "restructure.json"
ACTOR = Actor("cli", "bench")


def raw_modrdn_per_s(server: Slapd, count: int, tag: str = "") -> float:
    conn = server.connect()
    for ou in (f"from{tag}", f"to{tag}"):
        conn.add_s(
            f"ou={ou},{BASE}", [("objectClass", [b"organizationalUnit"]), ("ou", [ou.encode()])]
        )
    for n in range(count):
        conn.add_s(
            f"uid=m{n},ou=from{tag},{BASE}",
            [
                ("objectClass", [b"inetOrgPerson"]),
                ("uid", [f"m{n}".encode()]),
                ("cn", [f"Lò Văn Mười {n}".encode()]),
                ("sn", [b"Lo"]),
            ],
        )
    started = time.perf_counter()
    for n in range(count):
        conn.rename_s(f"uid=m{n},ou=from{tag},{BASE}", f"uid=m{n}", f"ou=to{tag},{BASE}")
    elapsed = time.perf_counter() - started
    conn.unbind_s()
    return count / elapsed


def raw_move_and_modify_per_s(server: Slapd, count: int, tag: str = "") -> float:
    """modrdn + one modify per entry, synchronous: the LDAP work of one mover."""
    conn = server.connect()
    for ou in (f"mfrom{tag}", f"mto{tag}"):
        conn.add_s(
            f"ou={ou},{BASE}", [("objectClass", [b"organizationalUnit"]), ("ou", [ou.encode()])]
        )
    old_group, new_group = (f"cn=unit-{g},ou=groups,{BASE}".encode() for g in ("a", "b"))
    for n in range(count):
        conn.add_s(
            f"uid=mm{n},ou=mfrom{tag},{BASE}",
            [
                ("objectClass", [b"inetOrgPerson", b"idhubPerson"]),
                ("uid", [f"mm{n}".encode()]),
                ("cn", [f"Lò Văn Mười {n}".encode()]),
                ("sn", [b"Lo"]),
                ("idhubPersonId", [f"mm-{n}".encode()]),
                ("departmentNumber", [b"A"]),
                ("ou", ["Xã Cũ".encode()]),
                ("idhubMemberOf", [old_group]),
            ],
        )
    started = time.perf_counter()
    for n in range(count):
        conn.rename_s(f"uid=mm{n},ou=mfrom{tag},{BASE}", f"uid=mm{n}", f"ou=mto{tag},{BASE}")
        conn.modify_s(
            f"uid=mm{n},ou=mto{tag},{BASE}",
            [
                (ldap.MOD_REPLACE, "departmentNumber", [b"B"]),
                (ldap.MOD_REPLACE, "ou", ["Xã Mới".encode()]),
                (ldap.MOD_ADD, "idhubMemberOf", [new_group]),
                (ldap.MOD_DELETE, "idhubMemberOf", [old_group]),
            ],
        )
    elapsed = time.perf_counter() - started
    conn.unbind_s()
    return count / elapsed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench restructure", description=__doc__)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--province", type=int, default=12, help="pre-2025 province code")
    parser.add_argument("--workers", type=int, default=2, help="`idhub worker` processes")
    parser.add_argument("--database", help="database URL (default: SQLite in a temp folder)")
    args = parser.parse_args(argv)

    legacy = read_legacy(args.province)
    with tempfile.TemporaryDirectory(prefix="idhub-bench-") as tmp:
        workdir = Path(tmp)
        server = Slapd(
            workdir / "slapd",
            base_dn=BASE,
            admin_dn=f"cn=admin,{BASE}",
            admin_password="bench-admin-password",
        ).start()
        try:
            raw_before = raw_modrdn_per_s(server, args.people)
            print(
                f"raw python-ldap modrdn:    {raw_before:8.0f} /s  ({args.people} entries, before)"
            )
            mover_before = raw_move_and_modify_per_s(server, args.people)
            print(
                f"raw modrdn + modify:       {mover_before:8.0f} /s  (a mover's LDAP work, before)"
            )
            hub = HubProcesses(workdir, server, args.database)
            services = hub.app.extensions["idhub"]
            audit, rules = services.audit, services.rules
            base_dn = services.connectors.base_dn
            with hub.db.transaction() as session:
                ctx = HrContext(session, audit, ACTOR, naming_pattern=rules.naming.pattern)
                load_pre_reform(ctx, legacy, staff=args.people, seed=2025)
            workers = hub.start_workers(args.workers)
            started = time.time()
            wait_for_empty_queue(hub, workers)
            print(
                f"pre-2025 {legacy.name}: {args.people} people converged in "
                f"{time.time() - started:.1f} s"
            )

            with hub.db.transaction() as session:
                plan = reform_change_set(legacy, holders_by_commune(session))
                ctx = HrContext(session, audit, ACTOR, naming_pattern=rules.naming.pattern)
                change_set_id = changesets.create_change_set(
                    ctx, ChangeSetSchema().load(plan.body)
                ).id
            connector = services.connectors.directory()
            started = time.time()
            shown = preview(hub.db, connector, rules, change_set_id, base_dn=base_dn)
            preview_s = time.time() - started
            connector.close()
            assert shown["ok"], shown["problems"][:5]
            moved = shown["people"]["moved"]
            print(f"preview:                   {preview_s:8.1f} s  ({moved} people move)")

            started = time.time()
            with hub.db.transaction() as session:
                change_set = session.get(ChangeSet, change_set_id)
                ctx = HrContext(
                    session,
                    audit,
                    ACTOR,
                    reason=change_set.reason,
                    naming_pattern=rules.naming.pattern,
                )
                summary = changesets.apply(ctx, change_set)
            applied = time.time()
            meter = CpuMeter(server.pid, workers, local_postmaster(hub.db))
            converged = wait_for_empty_queue(hub, workers)
            cpu = {k: v for k, v in meter.per_item_ms(moved).items() if k != "api"}
            stop_workers(workers)
            rate = moved / (converged - applied)
            # The baselines again: the machine's speed drifts, the ratios use the means.
            raw_after = raw_modrdn_per_s(server, args.people, tag="-after")
            mover_after = raw_move_and_modify_per_s(server, args.people, tag="-after")
            raw, raw_mover = (raw_before + raw_after) / 2, (mover_before + mover_after) / 2
            print(f"raw python-ldap modrdn:    {raw_after:8.0f} /s  (after; mean {raw:.0f})")
            print(
                f"raw modrdn + modify:       {mover_after:8.0f} /s  (after; mean {raw_mover:.0f})"
            )
            print(f"apply (one transaction):   {applied - started:8.1f} s  {summary}")
            print(f"apply → converged:         {converged - applied:8.1f} s")
            print(
                f"people moved through hub:  {rate:8.0f} /s  (ratio {rate / raw:.2f}; "
                f"{rate / raw_mover:.2f} of modrdn + modify)"
            )
            print(
                "CPU per mover:             "
                + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu.items())
            )
        finally:
            server.stop()

    result = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "people": args.people,
        "province": legacy.name,
        "database": "postgresql" if args.database and "postgresql" in args.database else "sqlite",
        "workers": args.workers,
        "raw_modrdn_per_s": round(raw, 1),
        "raw_modrdn_before_after_per_s": [round(raw_before, 1), round(raw_after, 1)],
        "restructure_moves_per_s": round(rate, 1),
        "restructure_ratio": round(rate / raw, 3),
        "raw_move_and_modify_per_s": round(raw_mover, 1),
        "raw_move_and_modify_before_after_per_s": [round(mover_before, 1), round(mover_after, 1)],
        "restructure_ratio_vs_move_and_modify": round(rate / raw_mover, 3),
        "apply_to_converged_s": round(converged - applied, 2),
        "apply_s": round(applied - started, 2),
        "preview_s": round(preview_s, 2),
        "people_moved": moved,
        "cpu_ms_per_mover": cpu,
        "summary": summary,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS}")
    return 0
