"""`idhub hr`: checks over the HR data already stored (records written before a rule existed)."""

from __future__ import annotations

import json
import sys
import uuid

import click
from sqlalchemy import select

from idhub.identity import cccd
from idhub.identity.personal import note_personal_read
from idhub.models import Person
from idhub.runtime import Runtime, pass_runtime


@click.group()
def hr() -> None:
    """HR data: checks over what is stored."""


@hr.command("check")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per failing record.")
@pass_runtime
def hr_check(rt: Runtime, as_json: bool) -> None:
    """List stored people whose CCCD does not hold what it encodes; exit 1 if any.

    Checks each CCCD as the API does today: province code of birth registration, century
    digit and birth-year digits against the date of birth, not all zeros.

    \b
    Example:
      idhub hr check
    """
    failing = 0
    shown: list[uuid.UUID] = []
    query = select(Person.id, Person.username, Person.national_id, Person.date_of_birth)
    with rt.db.reading() as session:
        for person_id, username, national_id, date_of_birth in session.execute(
            query.order_by(Person.id).execution_options(yield_per=1000)
        ):
            found = cccd.problems(national_id, date_of_birth)
            if not found:
                continue
            failing += 1
            shown.append(person_id)
            if as_json:
                record = {
                    "person_id": str(person_id),
                    "username": username,
                    "national_id": national_id,
                    "date_of_birth": date_of_birth.isoformat() if date_of_birth else None,
                    "problems": [p.as_dict() for p in found],
                }
                click.echo(json.dumps(record, ensure_ascii=False))
            else:
                reasons = " ".join(p.en for p in found)
                click.echo(f"{person_id} {username or '-'} {national_id}: {reasons}")
    if shown:  # the CCCDs and dates of birth printed are personal data read
        with rt.db.transaction() as session:
            note_personal_read(
                rt.actor, shown, ("national_id", "date_of_birth"), "cli", session=session
            )
    if failing:
        click.echo(f"{failing} stored record(s) fail the CCCD check", err=True)
        sys.exit(1)
    click.echo("every stored CCCD holds what it encodes")
