"""`idhub client events`: send an app (a registered client) signed change events."""

from __future__ import annotations

import click

from idhub.errors import DomainError
from idhub.events.projection import EVENT_TYPES
from idhub.events.subscriptions import subscribe, unsubscribe
from idhub.oidc.commands import client
from idhub.runtime import Runtime, fail, pass_runtime


@client.command("events")
@click.argument("client_id")
@click.option("--url", default=None, help="Where the events are POSTed (the app's receiver).")
@click.option(
    "--types",
    default=",".join(EVENT_TYPES),
    show_default=True,
    help="Comma-separated event types: " + ", ".join(EVENT_TYPES) + ".",
)
@click.option("--new-secret", is_flag=True, help="Replace the signing secret (shown once).")
@click.option("--off", is_flag=True, help="Stop sending events to the app.")
@pass_runtime
def client_events(
    rt: Runtime, client_id: str, url: str | None, types: str, new_secret: bool, off: bool
) -> None:
    """Send an app signed change events (Standard Webhooks): joiner, mover, leaver, role
    change of the people who may use it. The secret (whsec_…) is printed once: give it to
    the app. Every present user is sent as a joiner.

    \b
    Example:
      idhub client events van-ban --url https://vanban.example/events --types joiner,leaver
    """
    try:
        with rt.db.transaction() as session:
            if off:
                unsubscribe(session, rt.audit, rt.actor, client_id)
                click.echo(f"{client_id}: no more change events")
                return
            if not url:
                raise click.UsageError("--url is required (or --off)")
            wanted = [t.strip() for t in types.split(",") if t.strip()]
            secret = subscribe(
                session, rt.keyring, rt.audit, rt.actor, client_id, url, wanted, new_secret
            )
    except DomainError as exc:
        fail(exc)
    click.echo(f"{client_id}: change events ({', '.join(wanted)}) to {url}")
    if secret:
        click.echo(f"webhook secret (shown once): {secret}")
