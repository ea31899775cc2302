"""`idhub audit`: checking the hash chain of the audit log."""

from __future__ import annotations

import sys

import click

from idhub.runtime import Runtime, pass_runtime


@click.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@pass_runtime
def audit_verify(rt: Runtime) -> None:
    """Check the audit hash chain; exit 1 at the first broken link.

    \b
    Example:
      idhub audit verify
    """
    with rt.db.transaction() as session:
        result = rt.audit.verify_session(session)
    if result.ok:
        click.echo(f"audit chain intact: {result.checked} events")
        return
    click.echo(
        f"AUDIT CHAIN BROKEN at event {result.broken_at}: {result.problem} "
        f"({result.checked} events verified before it)",
        err=True,
    )
    sys.exit(1)
