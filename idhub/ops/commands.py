"""`idhub db`, `run`, `serve`, `worker` and `demo`: running the hub and its development stack.

The worker command lives here, above the wings, because a worker process wires several of
them together: the engine's loop, the leaver hook of the sign-on, the clock's daily work."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from idhub.runtime import Runtime, pass_runtime

if TYPE_CHECKING:  # imported where used: `idhub --help` loads no engine
    from idhub.engine.periodic import Periodic
    from idhub.engine.worker import Lane, Worker


@click.group()
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


@click.group()
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
    from idhub.ops.settings import DemoSettings

    conf = rt.settings.section(DemoSettings)
    try:
        with rt.db.transaction() as session:
            summary = load_demo(
                session,
                rt.audit,
                province_code=province if province is not None else conf.province,
                staff=staff if staff is not None else conf.staff,
                seed=seed if seed is not None else conf.seed,
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


@click.command("worker")
@click.option("--once", is_flag=True, help="Work until the queue is empty, then exit.")
@pass_runtime
def worker(rt: Runtime, once: bool) -> None:
    """Run a provisioning worker: converge queued people on the directory (and the
    mailboxes when [mail] is enabled); deliver the apps' back-channel logouts and change events.

    Stops cleanly on SIGTERM / Ctrl-C (the round in progress is finished and recorded).
    Several workers may run at once on PostgreSQL. Each target gets two lanes: one for
    bulk work, one for urgent jobs (cutting access), so a leaver never waits behind a
    backlog of joiners or mailboxes.

    \b
    Example:
      idhub worker
    """
    import threading

    from idhub.config import LoggingSettings
    from idhub.engine.worker import Lane
    from idhub.events.target import events_worker
    from idhub.logs import configure_logging
    from idhub.metrics import default_folder, use_folder
    from idhub.national.push import push_worker
    from idhub.oidc.keycheck import refuse_mismatched_keys
    from idhub.ops.backchannel import backchannel_worker
    from idhub.ops.gc import settle_after_startup
    from idhub.ops.signals import stop_on_signals
    from idhub.scimout.target import scim_worker

    rt.keyring.check_start()  # a missing key with data present: stop before any work
    refuse_mismatched_keys(rt.db, rt.keyring)  # nor with keys that do not open the data
    # Counters into the folder the web's /metrics sums (docs/metrics.md), before any counts.
    use_folder(default_folder(rt.settings.var_dir), clean=True)
    _publish_mail_settings(rt)
    logging_settings = rt.settings.section(LoggingSettings)  # an outage's warning and summary
    configure_logging(logging_settings.format, logging_settings.level)
    logouts = backchannel_worker(rt.db, rt.audit, rt.keyring, rt.settings)
    change_events = events_worker(rt)
    app_scim = scim_worker(rt)
    national = push_worker(rt)  # None unless [national] push_url is set
    if once:
        w = _directory_worker(rt)
        apps = (logouts, change_events, app_scim, national)
        others = [o for o in (_mail_worker(rt), *apps) if o is not None]
        settle_after_startup()
        total = 0
        while done := w.run_once() + sum(other.run_once() for other in others):
            total += done
        click.echo(f"processed {total} jobs")
        return
    w = _directory_worker(rt, Lane.BULK)
    # Beside the directory's bulk lane: its urgent lane, the mail target's two lanes (when
    # enabled) and the apps' back-channel logouts.
    beside = [_directory_worker(rt, Lane.URGENT)]
    for lane in (Lane.BULK, Lane.URGENT):
        mail = _mail_worker(rt, lane)
        if mail is not None:
            beside.append(mail)
    beside.append(logouts)
    beside.append(change_events)
    beside.append(app_scim)
    if national is not None:
        beside.append(national)
    settle_after_startup()
    stop = threading.Event()
    stop_on_signals(stop)
    threads = [threading.Thread(target=other.run, args=(stop,), daemon=True) for other in beside]
    for thread in threads:
        thread.start()
    w.run(stop)
    for thread in threads:
        thread.join(timeout=60)


def _publish_mail_settings(rt: Runtime) -> None:
    """`[mail] app_passwords_required` as the converge reads it (hub_state): a change
    marks everyone with a second factor for a converge (docs/mail.md "App passwords")."""
    from idhub.changes.chain import Actor
    from idhub.changes.mail_credentials import publish_setting

    with rt.db.transaction() as session:
        marked = publish_setting(session, rt.audit, rt.settings, Actor("system", "worker"))
    if marked:
        click.echo(f"app passwords: {marked} people's mail credentials to converge")


def _directory_worker(rt: Runtime, lane: Lane | None = None) -> Worker:
    """The directory's worker: it queues the jobs of the targets that follow it, ends the
    sign-on of the people it disables, and runs the clock's tasks (sweep, change sets, the
    audit of failed sign-ins) unless it is the urgent lane."""
    from idhub.engine.periodic import Periodic
    from idhub.engine.targets.directory import DirectoryTarget
    from idhub.engine.worker import Lane, Worker, WorkerSettings, new_worker_id
    from idhub.oidc.failures import flush_closed
    from idhub.oidc.logout import LeaverHook
    from idhub.oidc.settings import SsoSettings
    from idhub.services import ProvisioningSettings

    lane = lane or Lane.ALL
    urgent = lane is Lane.URGENT
    target = DirectoryTarget(
        rt.connector(),
        rt.rules,
        base_dn=rt.base_dn,
        guard=rt.guard,
        then=rt.connectors.then_targets(),
        on_disabled=LeaverHook(rt.db, rt.audit, rt.keyring, rt.settings),
        on_cut=_mail_cut(rt),
    )
    sso = rt.settings.section(SsoSettings)
    # Failed sign-ins of an account nobody tries again: its closed window is audited here.
    failure_audit = Periodic(
        "sign-in failure audit", 60.0, lambda actor: flush_closed(rt.db, rt.audit, sso, actor)
    )
    return Worker(
        rt.db,
        rt.audit,
        target,
        settings=WorkerSettings.from_settings(rt.settings.section(ProvisioningSettings)),
        worker_id=new_worker_id("urgent:") if urgent else None,
        periodic=() if urgent else [*_clock(rt), failure_audit],
        lane=lane,
    )


def _clock(rt: Runtime) -> list[Periodic]:
    """The scheduler's tasks, with the audit anchor when [audit] anchor_dir is set."""
    from idhub.audit.anchors import AnchorWriter
    from idhub.audit.settings import AuditSettings
    from idhub.scheduler.tasks import tasks

    section = rt.settings.section(AuditSettings)
    writer = None
    if section.anchor_dir:
        writer = AnchorWriter(section.anchor_dir, rt.keyring, to_syslog=section.anchor_syslog)
    return tasks(rt.db, rt.audit, rt.rules, writer, section.anchor_interval_s)


def _mail_cut(rt: Runtime) -> Callable[[list[Any]], object] | None:
    """Dovecot shut out by the directory's worker as soon as slapd took a disable."""
    from idhub.engine.targets.mail import MailCut

    connector = rt.connectors.mailboxes()
    return MailCut(connector) if connector is not None else None


def _mail_worker(rt: Runtime, lane: Lane | None = None) -> Worker | None:
    """The mail target's worker when [mail] is enabled (it runs beside the directory's,
    which writes every directory entry: seat mailboxes' too)."""
    from idhub.engine.targets.mail import MailTarget
    from idhub.engine.worker import Lane, Worker, WorkerSettings, new_worker_id
    from idhub.services import ProvisioningSettings

    lane = lane or Lane.ALL
    connector = rt.connectors.mailboxes()
    if connector is None:
        return None
    return Worker(
        rt.db,
        rt.audit,
        MailTarget(connector, rt.rules, base_dn=rt.base_dn),
        settings=WorkerSettings.from_settings(rt.settings.section(ProvisioningSettings)),
        worker_id=new_worker_id("mail:urgent:" if lane is Lane.URGENT else "mail:"),
        lane=lane,
    )


@click.command("run")
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

    sys.exit(run_stack(rt, load_demo_data=not no_demo))


@click.command("serve")
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
    from idhub.web.settings import ServerSettings

    argv = gunicorn_argv(rt.settings.section(ServerSettings), bind, workers)
    os.execv(argv[0], argv)  # noqa: S606 - replace this process with gunicorn
