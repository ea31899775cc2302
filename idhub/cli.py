"""The `idhub` command: database, clients, audit, demo data and the development stack."""

from __future__ import annotations

import json
import sys

import click

from idhub.config import ConfigError, load_settings
from idhub.errors import DomainError
from idhub.reorg.commands import changeset
from idhub.runtime import Runtime, fail, pass_runtime


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.pass_context
def main(ctx: click.Context) -> None:
    """IDHub: the identity and access hub (HR → LDAP, mail and sign-on).

    Settings come from config/idhub.toml, the file in IDHUB_CONFIG and IDHUB_* variables.
    """
    try:
        ctx.obj = Runtime(load_settings())
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


# -- db --------------------------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema migrations (Alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@pass_runtime
def db_upgrade(rt: Runtime, revision: str) -> None:
    """Migrate the database schema up (creates it when empty).

    \b
    Example:
      idhub db upgrade
    """
    from idhub.ops.migrate import current_revision, upgrade

    upgrade(rt.db.engine, revision)
    click.echo(f"database at revision {current_revision(rt.db.engine)}")


@db.command("downgrade")
@click.argument("revision")
@pass_runtime
def db_downgrade(rt: Runtime, revision: str) -> None:
    """Migrate the database schema down to REVISION ("base" drops everything).

    \b
    Example:
      idhub db downgrade 0001
    """
    from idhub.ops.migrate import current_revision, downgrade

    downgrade(rt.db.engine, revision)
    click.echo(f"database at revision {current_revision(rt.db.engine)}")


@db.command("current")
@pass_runtime
def db_current(rt: Runtime) -> None:
    """Print the schema revision of the database and whether it is the latest.

    \b
    Example:
      idhub db current
    """
    from idhub.ops.migrate import current_revision, head_revision

    current, head = current_revision(rt.db.engine), head_revision(rt.db.engine)
    click.echo(
        f"current: {current}  latest: {head}" + ("" if current == head else "  (upgrade needed)")
    )


# -- clients ---------------------------------------------------------------------------------
@main.group()
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
@click.option("--first-party", is_flag=True, help="A province app: no consent screen.")
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
    first_party: bool,
    as_json: bool,
) -> None:
    """Register a client: an API client (client credentials) or a sign-on app.

    The secret is printed once and only a keyed hash of it is stored.

    \b
    Examples:
      idhub client create --name "HR sync" --scope hr:read --scope hr:write
      idhub client create --name "Văn bản" --grant authorization_code --grant refresh_token \\
        --scope openid --scope profile --scope email --scope org --scope roles \\
        --redirect-uri https://vanban.example/callback --first-party
    """
    from idhub.oidc.clients import create_client

    allowed = list(rt.settings["oauth"]["scopes"]) + [
        s for s in rt.settings["sso"]["scopes"] if s not in rt.settings["oauth"]["scopes"]
    ]
    try:
        with rt.db.transaction() as session:
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
                first_party=first_party,
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
            click.echo(f"{row.client_id}\t{state}\t{row.scope}\t{row.name}")


# -- sign-on ---------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Signing keys of the OpenID provider (ID tokens, logout tokens)."""


@keys.command("rotate")
@pass_runtime
def keys_rotate(rt: Runtime) -> None:
    """Make a new signing key; the previous one stays in JWKS for sso.key_overlap_s.

    \b
    Example:
      idhub keys rotate
    """
    from idhub.oidc.keys import rotate_keys

    overlap = int(rt.settings["sso"]["key_overlap_s"])
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


@main.group()
def person() -> None:
    """People's sign-on: activation and password-reset links."""


@person.command("activation-link")
@click.argument("person_ref", metavar="PERSON")
@click.option("--reset", is_flag=True, help="A password-reset link instead of an activation.")
@pass_runtime
def person_activation_link(rt: Runtime, person_ref: str, reset: bool) -> None:
    """Print a one-time link where PERSON (id or username) sets a password and enrols TOTP.

    \b
    Example:
      idhub person activation-link annv
    """
    from idhub.oidc.credentials import find_person_ref, issue_action_link

    issuer = (rt.settings["sso"]["issuer"] or rt.settings["server"]["public_url"]).rstrip("/")
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
                ttl_s=int(rt.settings["sso"]["action_link_ttl_s"]),
            )
    except DomainError as exc:
        fail(exc)
    click.echo(f"{issuer}{link.path}")
    click.echo(f"valid until {link.expires_at:%Y-%m-%d %H:%M} UTC, once", err=True)


# -- audit -----------------------------------------------------------------------------------
@main.group()
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


# -- demo ------------------------------------------------------------------------------------
@main.group()
def demo() -> None:
    """Demo data from the real country (needs the optional vietnam-provinces package)."""


@demo.command("load")
@click.option("--province", type=int, default=None, help="vietnam-provinces code (12 = Lai Châu).")
@click.option("--staff", type=click.IntRange(1, 200_000), default=None, help="Synthetic people.")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same data).")
@pass_runtime
def demo_load(rt: Runtime, province: int | None, staff: int | None, seed: int | None) -> None:
    """Load one real province's org tree and synthetic staff into an empty database.

    \b
    Example:
      idhub demo load --province 12 --staff 3000 --seed 2025
    """
    from idhub.ops.demo.load import DemoAlreadyLoaded, DemoUnavailable, load_demo

    conf = rt.settings["demo"]
    try:
        with rt.db.transaction() as session:
            summary = load_demo(
                session,
                rt.audit,
                province_code=province if province is not None else int(conf["province"]),
                staff=staff if staff is not None else int(conf["staff"]),
                seed=seed if seed is not None else int(conf["seed"]),
                actor=rt.actor,
            )
    except (DemoAlreadyLoaded, DemoUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"loaded {summary}")


@demo.command("reform")
@click.option(
    "--province",
    type=int,
    default=12,
    show_default=True,
    help="Pre-2025 province code (vietnam-provinces legacy data).",
)
@click.option(
    "--staff",
    type=click.IntRange(1, 200_000),
    default=2000,
    show_default=True,
    help="Synthetic people in the pre-2025 units.",
)
@click.option("--seed", type=int, default=2025, show_default=True, help="Random seed.")
@click.option("--json", "as_json", is_flag=True, help="Print the final report as JSON.")
@pass_runtime
def demo_reform(rt: Runtime, province: int, staff: int, seed: int, as_json: bool) -> None:
    """The 2025 reform of one real province, end to end, into an empty database.

    Loads the pre-2025 tree (province, districts, communes) and staff, converges the
    directory, builds the reform's change set from the official conversion table,
    previews and applies it, converges again and checks every account. Exits 1 if any
    check fails.

    \b
    Example:
      idhub demo reform --province 48 --staff 2000
    """
    from idhub.ops.demo.province import ProvinceDataMissing
    from idhub.ops.demo.reform import run_reform

    try:
        report = run_reform(
            rt.db,
            rt.audit,
            rt.rules,
            rt.connector,
            lambda: [w for w in (_directory_worker(rt), _mail_worker(rt)) if w is not None],
            base_dn=rt.base_dn,
            province=province,
            staff=staff,
            seed=seed,
            actor=rt.actor,
            say=(lambda _m: None) if as_json else click.echo,
        )
    except (ProvinceDataMissing, LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    if not report["ok"]:
        raise SystemExit(1)


# -- provisioning ----------------------------------------------------------------------------
@main.command("worker")
@click.option("--once", is_flag=True, help="Work until the queue is empty, then exit.")
@pass_runtime
def worker(rt: Runtime, once: bool) -> None:
    """Run a provisioning worker: converge queued people on the directory.

    Stops cleanly on SIGTERM / Ctrl-C (the round in progress is finished and recorded).
    Several workers may run at once on PostgreSQL.

    \b
    Example:
      idhub worker
    """
    import threading

    from idhub.ops.gc import settle_after_startup
    from idhub.ops.signals import stop_on_signals

    w = _directory_worker(rt)
    mail = _mail_worker(rt)
    settle_after_startup()
    if once:
        total = 0
        while done := w.run_once() + (mail.run_once() if mail else 0):
            total += done
        click.echo(f"processed {total} jobs")
        return
    stop = threading.Event()
    stop_on_signals(stop)
    mail_thread = threading.Thread(target=mail.run, args=(stop,), daemon=True) if mail else None
    if mail_thread:
        mail_thread.start()
    w.run(stop)
    if mail_thread:
        mail_thread.join(timeout=60)


def _directory_worker(rt: Runtime):  # type: ignore[no-untyped-def]
    """The directory's worker; it queues the jobs of the targets that follow it."""
    from idhub import services as runtime
    from idhub.engine.worker import Worker, WorkerSettings
    from idhub.oidc.logout import LeaverHook

    return Worker(
        rt.db,
        rt.audit,
        rt.connector(),
        rt.rules,
        base_dn=rt.base_dn,
        settings=WorkerSettings.from_settings(rt.settings["provisioning"]),
        guard=rt.guard,
        then=runtime.then_targets(rt.settings),
        on_disabled=LeaverHook(rt.db, rt.audit, rt.keyring, rt.settings),
    )


def _mail_worker(rt: Runtime):  # type: ignore[no-untyped-def]
    """The mail target's worker when [mail] is enabled (it runs beside the directory's)."""
    from idhub import services as runtime
    from idhub.engine.targets.mail import MailWorker
    from idhub.engine.worker import WorkerSettings

    connector = runtime.mail_connector(rt.settings)
    if connector is None:
        return None
    return MailWorker(
        rt.db,
        rt.audit,
        connector,
        rt.rules,
        base_dn=rt.base_dn,
        settings=WorkerSettings.from_settings(rt.settings["provisioning"]),
        directory=rt.connector(),  # seat mailboxes have a directory entry of their own
    )


@main.command("plan")
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


@main.command("reconcile")
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


@main.group()
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


# -- development stack -----------------------------------------------------------------------
@main.command("run")
@click.option("--no-demo", is_flag=True, help="Do not load the demo data on first start.")
@pass_runtime
def run(rt: Runtime, no_demo: bool) -> None:
    """Start the development stack: slapd under var/, migrations, demo, the hub on gunicorn.

    Ctrl-C (or SIGTERM) stops everything it started. Data under var/ is kept.

    \b
    Example:
      idhub run            # what `make run` does
    """
    from idhub.ops.devstack.run import run_stack

    sys.exit(run_stack(rt.settings, load_demo_data=not no_demo))


@main.command("serve")
@click.option("--bind", default=None, help="host:port (default from settings).")
@click.option("--workers", type=int, default=None, help="gunicorn worker processes.")
@pass_runtime
def serve(rt: Runtime, bind: str | None, workers: int | None) -> None:
    """Serve the hub with gunicorn (production server), in the foreground.

    \b
    Example:
      idhub serve --bind 0.0.0.0:8080 --workers 4
    """
    import os

    from idhub.ops.server import gunicorn_argv

    argv = gunicorn_argv(rt.settings, bind, workers)
    os.execv(argv[0], argv)  # noqa: S606 - replace this process with gunicorn


# Feature areas own their commands.
main.add_command(changeset)

if __name__ == "__main__":
    main()
