"""`idhub changeset …`: reorganisations from the command line."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from idhub.changes.context import HrContext
from idhub.errors import DomainError
from idhub.reorg import changesets
from idhub.reorg.files import FileError, read_change_set
from idhub.reorg.preview import preview, to_csv
from idhub.reorg.schemas import ChangeSetSchema
from idhub.runtime import Runtime, fail, pass_runtime


@click.group("changeset")
def changeset() -> None:
    """Reorganisations: create, check, preview, apply change sets."""


def _ctx(rt: Runtime, session: Session, reason: str | None = None) -> HrContext:
    return HrContext(
        session, rt.audit, rt.actor, reason=reason, naming_pattern=rt.rules.naming.pattern
    )


@changeset.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--title", help="What the change set does (required for CSV).")
@click.option("--decision-number", help='The decision, e.g. "1670/NQ-UBTVQH15".')
@click.option("--decision-date", help="Its date (YYYY-MM-DD).")
@click.option("--issuer", "decision_issuer", help="Who issued it.")
@click.option("--effective-date", help="When it takes effect (YYYY-MM-DD).")
@pass_runtime
def create(rt: Runtime, file: Path, **decision: str | None) -> None:
    """Create a draft change set from a JSON or CSV FILE; prints its id.

    \b
    Example:
      idhub changeset create reform.csv --title "Sắp xếp đơn vị hành chính cấp xã" \\
        --decision-number 1670/NQ-UBTVQH15 --decision-date 2025-06-16 \\
        --issuer "Ủy ban Thường vụ Quốc hội" --effective-date 2025-07-01
    """
    given = {k: v for k, v in decision.items() if v is not None}
    try:
        data = ChangeSetSchema().load(read_change_set(file, given))
    except FileError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValidationError as exc:
        raise click.ClickException(
            "the change set is not valid:\n"
            + json.dumps(exc.messages, ensure_ascii=False, indent=2)
        ) from exc
    with rt.db.transaction() as session:
        created = changesets.create_change_set(_ctx(rt, session), data)
    click.echo(str(created.id))


@changeset.command("list")
@pass_runtime
def list_(rt: Runtime) -> None:
    """List change sets.

    \b
    Example:
      idhub changeset list
    """
    from sqlalchemy import select

    from idhub.models import ChangeSet

    with rt.db.transaction() as session:
        for c in session.scalars(select(ChangeSet).order_by(ChangeSet.effective_date)):
            click.echo(
                f"{c.id}  {c.state.value:9}  {c.effective_date}  {c.decision_number}  {c.title}"
            )


@changeset.command("check")
@click.argument("change_set_id", type=click.UUID)
@pass_runtime
def check(rt: Runtime, change_set_id: uuid.UUID) -> None:
    """Report every problem of a change set; exits 1 if there is any.

    \b
    Example:
      idhub changeset check 6d991911-e354-4127-9d94-f1e767212c44
    """
    with rt.db.transaction() as session:
        try:
            effect = changesets.check(session, changesets.get_change_set(session, change_set_id))
        except DomainError as exc:
            fail(exc)
    for problem in effect.problems:
        where = "change set" if problem.operation is None else f"operation {problem.operation}"
        click.echo(f"{where}: {problem.message} [{problem.code}]")
    if effect.problems:
        raise SystemExit(1)
    click.echo(
        f"ok: {len(effect.new_units)} units created, {len(effect.retired)} retired, "
        f"{len(effect.parents)} moved, {len(effect.renames)} renamed; "
        f"{len(effect.people)} people's posts move"
    )


@changeset.command("preview")
@click.argument("change_set_id", type=click.UUID)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-person rows to this CSV file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole preview as JSON.")
@pass_runtime
def preview_command(
    rt: Runtime, change_set_id: uuid.UUID, csv_file: Path | None, as_json: bool
) -> None:
    """Show everything applying would change (computed, then rolled back).

    \b
    Example:
      idhub changeset preview 6d991911-e354-4127-9d94-f1e767212c44 --csv preview.csv
    """
    connector = rt.connector()
    try:
        result = preview(rt.db, connector, rt.rules, change_set_id, base_dn=rt.base_dn)
    except DomainError as exc:
        fail(exc)
    finally:
        connector.close()
    if csv_file is not None:
        csv_file.write_text(to_csv(result), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    if not result["ok"]:
        for problem in result["problems"]:
            click.echo(
                f"operation {problem['operation']}: {problem['message']} [{problem['code']}]"
            )
        raise SystemExit(1)
    units, people = result["units"], result["people"]
    click.echo(
        f"units: {units['created']} created, {units['retired']} retired, {units['moved']} "
        f"moved, {units['renamed']} renamed"
    )
    click.echo(
        f"people: {people['affected']} affected, {people['moved']} move in the directory, "
        f"{people['address_changes']} change address, {people['group_changes']} change groups"
    )
    click.echo(f"collisions: {len(result['collisions'])}")
    changes = Counter(seat["change"] for seat in result.get("seats", ()))
    if changes:
        click.echo(
            f"seat mailboxes: {changes['opened']} opened, {changes['closed']} closed, "
            f"{changes['changed']} handed over or readdressed"
        )


@changeset.command("apply")
@click.argument("change_set_id", type=click.UUID)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Follow the workers with a progress bar until every person converged.",
)
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait at most.")
@pass_runtime
def apply(rt: Runtime, change_set_id: uuid.UUID, wait: bool, timeout: float) -> None:
    """Apply a change set now (one transaction), then follow the workers.

    \b
    Example:
      idhub changeset apply 6d991911-e354-4127-9d94-f1e767212c44
    """
    with rt.db.transaction() as session:
        try:
            change_set = changesets.get_change_set(session, change_set_id)
            summary = changesets.apply(_ctx(rt, session, change_set.reason), change_set)
        except DomainError as exc:
            if exc.details and "problems" in exc.details:
                for problem in exc.details["problems"]:
                    click.echo(f"operation {problem['operation']}: {problem['message']}", err=True)
            fail(exc)
    click.echo("applied: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items()))
    if wait:
        _follow(rt, change_set_id, timeout)


@changeset.command("schedule")
@click.argument("change_set_id", type=click.UUID)
@pass_runtime
def schedule(rt: Runtime, change_set_id: uuid.UUID) -> None:
    """Apply on the effective date (the workers' daily sweep does it).

    \b
    Example:
      idhub changeset schedule 6d991911-e354-4127-9d94-f1e767212c44
    """
    _transition(rt, change_set_id, changesets.schedule)


@changeset.command("cancel")
@click.argument("change_set_id", type=click.UUID)
@pass_runtime
def cancel(rt: Runtime, change_set_id: uuid.UUID) -> None:
    """Cancel a draft or scheduled change set.

    \b
    Example:
      idhub changeset cancel 6d991911-e354-4127-9d94-f1e767212c44
    """
    _transition(rt, change_set_id, changesets.cancel)


def _transition(rt: Runtime, change_set_id: uuid.UUID, action: Callable[..., Any]) -> None:
    with rt.db.transaction() as session:
        try:
            change_set = changesets.get_change_set(session, change_set_id)
            action(_ctx(rt, session, change_set.reason), change_set)
        except DomainError as exc:
            fail(exc)
        click.echo(f"{change_set.id}: {change_set.state.value}")


@changeset.command("progress")
@click.argument("change_set_id", type=click.UUID)
@click.option("--wait", is_flag=True, help="Follow with a progress bar until done.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait at most.")
@pass_runtime
def progress(rt: Runtime, change_set_id: uuid.UUID, wait: bool, timeout: float) -> None:
    """People converged since the apply: done, pending, held, failed.

    \b
    Example:
      idhub changeset progress 6d991911-e354-4127-9d94-f1e767212c44 --wait
    """
    if wait:
        _follow(rt, change_set_id, timeout)
        return
    click.echo(json.dumps(_progress(rt, change_set_id)))


def _progress(rt: Runtime, change_set_id: uuid.UUID) -> dict:
    with rt.db.transaction() as session:
        try:
            return changesets.progress(session, changesets.get_change_set(session, change_set_id))
        except DomainError as exc:
            fail(exc)
            raise


def _follow(rt: Runtime, change_set_id: uuid.UUID, timeout: float) -> None:
    """A progress bar over the people of the change set until none is pending."""
    state = _progress(rt, change_set_id)
    deadline = time.monotonic() + timeout
    with click.progressbar(
        length=max(1, state["people"]), label="converging", show_pos=True
    ) as bar:
        shown = 0
        while True:
            state = _progress(rt, change_set_id)
            settled = state["done"] + state["failed"] + state["held"]
            bar.update(settled - shown)
            shown = settled
            if state["pending"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    click.echo(json.dumps(state))
    if state["failed"] or state["held"] or state["pending"]:
        raise SystemExit(1)
