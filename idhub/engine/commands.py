"""`idhub plan`, `reconcile` and `guard`: what a converge would change, drift, held mass
changes."""

from __future__ import annotations

import json
import sys

import click

from idhub.errors import DomainError
from idhub.runtime import Runtime, fail, pass_runtime


@click.command("plan")
@click.argument("person")
@pass_runtime
def plan_command(rt: Runtime, person: str) -> None:
    """Show what converging PERSON (id or username) would change, without changing it.

    \b
    Example:
      idhub plan annv
    """
    from idhub.engine.preview import preview_person

    with rt.db.transaction() as session:
        try:
            result = preview_person(session, rt.connector(), rt.rules, person, base_dn=rt.base_dn)
        except DomainError as exc:
            fail(exc)
    click.echo(json.dumps(result, ensure_ascii=False, indent=2))


@click.command("reconcile")
@click.option("--repair", is_flag=True, help="Queue converge jobs for every drifted person.")
@click.option("--confirm", is_flag=True, help="Proceed even past the mass-change guard.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@pass_runtime
def reconcile_command(rt: Runtime, repair: bool, confirm: bool, as_json: bool) -> None:
    """Compare the directory with HR and report drift; --repair converges it.

    Exits 1 when drift remains unrepaired (handy for monitoring), 2 when the mass-change
    guard stopped the repair.

    \b
    Example:
      idhub reconcile --repair
    """
    from idhub.changes.guard import release
    from idhub.engine.reconcile import reconcile

    report = reconcile(
        rt.db,
        rt.connector(),
        rt.rules,
        base_dn=rt.base_dn,
        repair=repair,
        confirm=confirm,
        guard=rt.guard,
    )
    if repair and confirm and report.repaired:
        release(rt.db, rt.audit, rt.actor, rt.guard, "reconcile --repair --confirm")
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(
            f"{report.people} people, {report.scanned_accounts} accounts scanned, "
            f"{report.in_sync} in sync, {len(report.drifted)} drifted {dict(report.drift)}, "
            f"{len(report.orphans)} orphans"
        )
        for orphan in report.orphans[:20]:
            click.echo(f"  orphan: {orphan}")
    if report.guard_tripped:
        click.echo("mass-change guard: repair not queued; rerun with --confirm", err=True)
        sys.exit(2)
    if report.drifted and not repair:
        sys.exit(1)
    if repair:
        click.echo(f"queued {report.repaired} converge jobs")


@click.group()
def guard() -> None:
    """The mass-change guard (stops mass disables until confirmed)."""


@guard.command("release")
@click.option("--reason", required=True, help="Why the mass change is intended.")
@pass_runtime
def guard_release(rt: Runtime, reason: str) -> None:
    """Confirm held mass changes: they run now; the guard stays open for one window.

    \b
    Example:
      idhub guard release --reason "QĐ 123/QĐ-UBND: commune X dissolved"
    """
    from idhub.changes.guard import release

    count = release(rt.db, rt.audit, rt.actor, rt.guard, reason)
    click.echo(f"released {count} held jobs")
