"""The `idhub` command: the root group; every wing brings its own commands."""

from __future__ import annotations

import click

from idhub.admin.commands import admin
from idhub.app import load_checked
from idhub.audit.commands import audit
from idhub.config import ConfigError
from idhub.engine.commands import guard, plan_command, reconcile_command
from idhub.events import commands as _events_commands  # noqa: F401 - adds `client events`
from idhub.identity.commands import hr
from idhub.keyring import MissingKeyError
from idhub.national.commands import national
from idhub.oidc.commands import client, keys, person
from idhub.ops.backup_commands import backup, restore
from idhub.ops.commands import db, demo, run, serve, worker
from idhub.reorg.commands import changeset
from idhub.runtime import Runtime
from idhub.scimout import commands as _scim_commands  # noqa: F401 - adds `client scim`


class _Main(click.Group):
    """The root group: a missing data key stops any command with its message, no trace."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MissingKeyError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(
    cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.pass_context
def main(ctx: click.Context) -> None:
    """IDHub: the identity and access hub (HR → LDAP, mail and sign-on).

    Settings come from the shipped defaults, the file in IDHUB_CONFIG (an installed hub:
    /etc/idhub/idhub.toml when IDHUB_CONFIG is not set) and IDHUB_* variables.
    """
    try:
        ctx.obj = Runtime(load_checked())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


for command in (
    db,
    client,
    keys,
    person,
    hr,
    audit,
    demo,
    worker,
    plan_command,
    reconcile_command,
    guard,
    run,
    serve,
    changeset,
    national,
    admin,
    backup,
    restore,
):
    main.add_command(command)

if __name__ == "__main__":
    main()
