"""`idhub client scim` and `idhub client scim-reconcile`: keep an app's SCIM users in
step with the people who may use it."""

from __future__ import annotations

from pathlib import Path

import click

from idhub.errors import DomainError
from idhub.oidc.commands import client
from idhub.runtime import Runtime, fail, pass_runtime
from idhub.scimout.reconcile import reconcile
from idhub.scimout.subscriptions import ScimSettings, subscribe, unsubscribe


@client.command("scim")
@click.argument("client_id")
@click.option("--url", default=None, help="The app's SCIM base URL (…/scim/v2).")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A file holding the app's bearer token (kept encrypted; not needed to change the rest).",
)
@click.option("--subtree", default=None, help="Only people with a post in this unit or below.")
@click.option(
    "--role-prefix", default=None, help="Only people holding an app role such as document:."
)
@click.option(
    "--delete-after-days",
    type=click.IntRange(min=0),
    default=None,
    help="Delete a deactivated user after this many days (default: keep it, inactive).",
)
@click.option("--off", is_flag=True, help="Stop keeping the app's users in step.")
@pass_runtime
def client_scim(
    rt: Runtime,
    client_id: str,
    url: str | None,
    token_file: Path | None,
    subtree: str | None,
    role_prefix: str | None,
    delete_after_days: int | None,
    off: bool,
) -> None:
    """Keep an app's users in step over SCIM 2.0: joiners created, movers updated,
    leavers and people leaving the audience deactivated (`active: false`). Every present
    user of the audience is sent.

    \b
    Example:
      idhub client scim document --url https://vanban.example/scim/v2 \\
          --token-file /etc/idhub/vanban-scim.token --role-prefix document:
    """
    try:
        with rt.db.transaction() as session:
            if off:
                unsubscribe(session, rt.audit, rt.actor, client_id)
                click.echo(f"{client_id}: no more SCIM")
                return
            if not url:
                raise click.UsageError("--url is required (or --off)")
            token = token_file.read_text(encoding="utf-8").strip() if token_file else None
            settings = ScimSettings(url, token, subtree, role_prefix, delete_after_days)
            subscribe(session, rt.keyring, rt.audit, rt.actor, client_id, settings)
    except DomainError as exc:
        fail(exc)
    click.echo(f"{client_id}: users kept in step over SCIM at {url}")


@client.command("scim-reconcile")
@click.argument("client_id")
@pass_runtime
def client_scim_reconcile(rt: Runtime, client_id: str) -> None:
    """Read the app's SCIM users and queue whatever differs: users the hub does not know
    are deactivated, users missing there are created again.

    \b
    Example:
      idhub client scim-reconcile idh_0M9-I6J7u3HfkGHLVI5naA
    """
    try:
        done = reconcile(rt, rt.db, rt.audit, rt.actor, client_id)
    except DomainError as exc:
        fail(exc)
    click.echo(
        f"{client_id}: {done.listed} users listed, {len(done.extra)} deactivated, "
        f"{len(done.missing)} to create again, {done.queued} jobs queued"
    )
