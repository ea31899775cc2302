"""`idhub client`, `keys` and `person`: API and sign-on clients, signing keys, a person's
activation or reset link."""

from __future__ import annotations

import json

import click

from idhub.errors import DomainError
from idhub.identity.units import unit_by_code
from idhub.runtime import Runtime, fail, pass_runtime


@click.group()
def client() -> None:
    """OAuth 2 clients (API callers, later the SSO apps)."""


@client.command("create")
@click.option("--name", required=True, help="Who the client is, e.g. 'HR system sync'.")
@click.option("--scope", "scopes", multiple=True, required=True, help="Granted scope; repeat.")
@click.option(
    "--type",
    "client_type",
    type=click.Choice(["confidential", "public"]),
    default="confidential",
    show_default=True,
    help="public: no secret, PKCE (S256) required (browser and mobile apps).",
)
@click.option(
    "--grant",
    "grants",
    multiple=True,
    type=click.Choice(["client_credentials", "authorization_code", "refresh_token"]),
    help="Allowed grant; repeat. Default: client_credentials.",
)
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI; repeat.")
@click.option(
    "--post-logout-redirect-uri", "post_logout_uris", multiple=True, help="Exact URI; repeat."
)
@click.option("--backchannel-logout-uri", default=None, help="Where logout tokens are POSTed.")
@click.option("--client-uri", default=None, help="The app's home page (linked on /account/apps).")
@click.option("--first-party", is_flag=True, help="A province app: no consent screen.")
@click.option(
    "--refresh-without-offline-access",
    "refresh_without_offline",
    is_flag=True,
    help="Refresh tokens even when the app does not ask for offline_access.",
)
@click.option(
    "--refresh-ttl",
    "refresh_token_ttl_s",
    type=click.IntRange(min=1),
    default=None,
    help="Seconds a refresh-token family lives (default: sso.refresh_token_ttl_s).",
)
@click.option(
    "--subtree",
    "subtree",
    default=None,
    metavar="UNITCODE",
    help="Limit an API client to this unit and the units below it (a commune's HR system).",
)
@click.option(
    "--app",
    "app_key",
    default=None,
    metavar="KEY",
    help="The app this client is (document, meeting, …): it gets the '<KEY>:<role>' roles only.",
)
@click.option(
    "--hub-roles/--no-hub-roles",
    default=None,
    help="Also the hub-wide roles and groups claims (default: only without --app).",
)
@click.option("--json", "as_json", is_flag=True, help="Print id and secret as JSON.")
@pass_runtime
def client_create(
    rt: Runtime,
    name: str,
    scopes: tuple[str, ...],
    client_type: str,
    grants: tuple[str, ...],
    redirect_uris: tuple[str, ...],
    post_logout_uris: tuple[str, ...],
    backchannel_logout_uri: str | None,
    client_uri: str | None,
    first_party: bool,
    refresh_without_offline: bool,
    refresh_token_ttl_s: int | None,
    subtree: str | None,
    app_key: str | None,
    hub_roles: bool | None,
    as_json: bool,
) -> None:
    """Register a client: an API client (client credentials) or a sign-on app.

    The secret is printed once and only a keyed hash of it is stored.

    \b
    Examples:
      idhub client create --name "HR sync" --scope hr:read --scope hr:write
      idhub client create --name "Văn bản" --grant authorization_code --grant refresh_token \\
        --scope openid --scope profile --scope email --scope org --scope roles \\
        --redirect-uri https://vanban.example/callback --first-party --app document
    """
    from idhub.oidc.clients import create_client
    from idhub.oidc.server import supported_scopes

    allowed = supported_scopes(rt.settings)
    try:
        with rt.db.transaction() as session:
            root = unit_by_code(session, subtree).id if subtree else None
            new = create_client(
                session,
                rt.keyring,
                rt.audit,
                rt.actor,
                name=name,
                scopes=list(scopes),
                allowed_scopes=allowed,
                client_type=client_type,
                grant_types=list(grants) or None,
                redirect_uris=list(redirect_uris),
                post_logout_redirect_uris=list(post_logout_uris),
                backchannel_logout_uri=backchannel_logout_uri,
                client_uri=client_uri,
                first_party=first_party,
                refresh_without_offline=refresh_without_offline,
                refresh_token_ttl_s=refresh_token_ttl_s,
                subtree_unit_id=root,
                app_key=app_key,
                hub_roles=hub_roles,
            )
    except DomainError as exc:
        fail(exc)
    if as_json:
        click.echo(json.dumps({"client_id": new.client_id, "client_secret": new.client_secret}))
    elif new.client_secret:
        click.echo(f"client_id:     {new.client_id}\nclient_secret: {new.client_secret}")
        click.echo("Keep the secret now: it cannot be shown again.", err=True)
    else:
        click.echo(f"client_id:     {new.client_id}  (public: no secret, PKCE required)")


@client.command("list")
@pass_runtime
def client_list(rt: Runtime) -> None:
    """List registered clients (never their secrets).

    \b
    Example:
      idhub client list
    """
    from sqlalchemy import select

    from idhub.models import OAuthClient

    with rt.db.transaction() as session:
        for row in session.scalars(select(OAuthClient).order_by(OAuthClient.created_at)):
            state = "disabled" if row.disabled_at else "active"
            app = f"\tapp={row.app_key}" if row.app_key else ""
            click.echo(f"{row.client_id}\t{state}\t{row.scope}\t{row.name}{app}")


@client.command("disable")
@click.argument("client_id")
@pass_runtime
def client_disable(rt: Runtime, client_id: str) -> None:
    """Disable CLIENT_ID: it can no longer get tokens, and every token it holds stops
    working at once (introspection inactive, bearer refused, refresh refused).

    \b
    Example:
      idhub client disable idh_abc123
    """
    from idhub.oidc.clients import set_client_disabled

    try:
        with rt.db.transaction() as session:
            revoked = set_client_disabled(session, rt.audit, rt.actor, client_id, disabled=True)
    except DomainError as exc:
        fail(exc)
    click.echo(f"client {client_id} disabled; {revoked} tokens revoked")


@client.command("enable")
@click.argument("client_id")
@pass_runtime
def client_enable(rt: Runtime, client_id: str) -> None:
    """Enable CLIENT_ID again (the tokens revoked when it was disabled stay revoked).

    \b
    Example:
      idhub client enable idh_abc123
    """
    from idhub.oidc.clients import set_client_disabled

    try:
        with rt.db.transaction() as session:
            set_client_disabled(session, rt.audit, rt.actor, client_id, disabled=False)
    except DomainError as exc:
        fail(exc)
    click.echo(f"client {client_id} enabled")


@click.group()
def keys() -> None:
    """Signing keys of the OpenID provider (ID tokens, logout tokens); `check` checks
    every secret of the hub against its data."""


@keys.command("rotate")
@pass_runtime
def keys_rotate(rt: Runtime) -> None:
    """Make a new signing key; the previous one stays in JWKS for sso.key_overlap_s.

    \b
    Example:
      idhub keys rotate
    """
    from idhub.oidc.keys import rotate_keys
    from idhub.oidc.settings import SsoSettings

    overlap = rt.settings.section(SsoSettings).key_overlap_s
    with rt.db.transaction() as session:
        new, retired = rotate_keys(session, rt.keyring, rt.audit, rt.actor, overlap_s=overlap)
    click.echo(f"signing key {new.kid} active; {len(retired)} retired (verify for {overlap} s)")


@keys.command("list")
@pass_runtime
def keys_list(rt: Runtime) -> None:
    """List signing keys (never the private part).

    \b
    Example:
      idhub keys list
    """
    from sqlalchemy import select

    from idhub.models import SigningKey

    with rt.db.transaction() as session:
        for row in session.scalars(select(SigningKey).order_by(SigningKey.created_at)):
            state = (
                "active" if row.retired_at is None else f"retired, in JWKS until {row.expires_at}"
            )
            click.echo(f"{row.kid}\t{row.alg}\t{row.created_at:%Y-%m-%d %H:%M}\t{state}")


@keys.command("check")
@pass_runtime
def keys_check(rt: Runtime) -> None:
    """Check that every secret is present and opens the data made with it.

    Read-only: a missing key is reported, never made. Exits 0 when all is well, 1
    otherwise (restore the key named from your backup).

    \b
    Example:
      idhub keys check
    """
    from idhub.oidc.keycheck import check_keys

    with rt.db.transaction() as session:
        findings = check_keys(session, rt.keyring)
    for finding in findings:
        click.echo(f"{'ok  ' if finding.ok else 'FAIL'}\t{finding.name}\t{finding.detail}")
    if not all(finding.ok for finding in findings):
        raise SystemExit(1)


@click.group()
def person() -> None:
    """People's sign-on: activation and password-reset links."""


@person.command("activation-link")
@click.argument("person_ref", metavar="PERSON")
@click.option("--reset", is_flag=True, help="An access-reset link (≤ 1 h) instead.")
@click.option("--reason", default=None, help="Why (required with --reset; audited).")
@click.option(
    "--reset-second-factor",
    is_flag=True,
    help="With --reset: re-enrol TOTP too (else the person proves the current code).",
)
@pass_runtime
def person_activation_link(
    rt: Runtime, person_ref: str, reset: bool, reason: str | None, reset_second_factor: bool
) -> None:
    """Print a one-time link where PERSON (id or username) sets a password and enrols TOTP.

    \b
    Example:
      idhub person activation-link annv
      idhub person activation-link annv --reset --reason "ticket 1234, phone call"
    """
    from idhub.oidc.credentials import find_person_ref, issue_action_link
    from idhub.oidc.settings import SsoSettings
    from idhub.oidc.state import issuer_of

    issuer = issuer_of(rt.settings)
    sso = rt.settings.section(SsoSettings)
    try:
        with rt.db.transaction() as session:
            found = find_person_ref(session, person_ref)
            link = issue_action_link(
                session,
                rt.keyring,
                rt.audit,
                rt.actor,
                found,
                purpose="reset" if reset else "activate",
                ttl_s=sso.reset_link_ttl_s if reset else sso.activation_link_ttl_s,
                reason=reason,
                reset_second_factor=reset_second_factor,
            )
    except DomainError as exc:
        fail(exc)
    click.echo(f"{issuer}{link.path}")
    click.echo(f"valid until {link.expires_at:%Y-%m-%d %H:%M} UTC, once", err=True)
    if link.handover_code:  # a lost phone: the person proves this code (or their password)
        click.echo(f"hand-over code (give it in person): {link.handover_code}", err=True)
