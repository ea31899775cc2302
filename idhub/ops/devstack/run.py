"""`idhub run` / `make run`: the whole development stack in one foreground process.

Starts a project-owned slapd under var/, migrates the SQLite database, loads the demo
on first start, registers a demo admin client, serves the hub with gunicorn, writes
var/run/env.json once everything answers, then keeps it running: a process that dies is
started again with a backoff (supervisor.py), and Ctrl-C or SIGTERM stops all of it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select

from idhub.changes.chain import AuditLog
from idhub.config import PROJECT_DIR
from idhub.db import Database
from idhub.models import OAuthClient, OrgUnit, Person
from idhub.oidc.settings import OAuthSettings, SsoSettings
from idhub.ops.demo.console import console_accounts
from idhub.ops.devstack import handover
from idhub.ops.devstack.mail import LdapSource, MailStack
from idhub.ops.devstack.slapd import Slapd
from idhub.ops.devstack.supervisor import Child, Server, Supervisor
from idhub.ops.migrate import upgrade
from idhub.ops.server import gunicorn_argv
from idhub.ops.settings import DemoSettings, DevSlapdSettings
from idhub.services import DevMailSettings, Hub, LdapSettings
from idhub.web.settings import ServerSettings

DEMO_CLIENT_FILE = "demo_admin_client.json"
DEMO_USER_FILE = "demo_user.json"
DEMO_APPS_FILE = "demo_apps.json"
# The example apps (examples/rp_app.py), on the ports after the hub's.
# (name, kind of examples/rp_app.py, app key of the rules' "<app>:<role>" roles)
DEMO_APPS = (
    ("Văn bản", "documents", "document"),
    ("Họp trực tuyến", "meetings", "meeting"),
    ("Nhân sự", "personnel", "personnel"),
)
EXAMPLE_APP = PROJECT_DIR / "examples" / "rp_app.py"
ACTOR = handover.ACTOR


def _say(message: str) -> None:
    print(f"[idhub run] {message}", flush=True)


def _demo_client(hub: Hub) -> dict:
    """The demo API client with every scope; its secret is kept (0600) so env.json can show it."""
    scopes = list(hub.settings.section(OAuthSettings).scopes)
    return handover.kept_client(hub, DEMO_CLIENT_FILE, "Demo admin client", scopes)


def _demo_user(hub: Hub) -> dict | None:
    """One demo person (the most senior) and a password kept for the SSO and directory."""
    import secrets

    db = hub.db
    path = handover.secrets_dir(hub) / DEMO_USER_FILE
    saved = handover.read_json(path)
    if saved:
        return saved
    with db.transaction() as session:
        person = session.scalar(select(Person).order_by(Person.created_at, Person.id).limit(1))
        if person is None:
            return None
        saved = {
            "person_id": str(person.id),
            "name": person.full_name,
            "username": person.username,
            "password": secrets.token_urlsafe(12),
        }
    handover.write_private(path, saved)
    return saved


def _demo_sign_on(hub: Hub, user: dict) -> dict:
    """Give the demo person hub credentials: the demo password and a TOTP secret (kept)."""
    if user.get("totp_secret"):
        return user
    with hub.db.transaction() as session:
        person = session.get(Person, uuid.UUID(user["person_id"]))
        if person is None:
            return user
        user.update(handover.sign_on(hub, session, person, user["password"]))
    handover.write_private(handover.secrets_dir(hub) / DEMO_USER_FILE, user)
    return user


def _demo_apps(hub: Hub) -> list[dict]:
    """The three example apps, registered once (first-party, with logout URIs)."""
    from idhub.oidc.clients import create_client

    path = handover.secrets_dir(hub) / DEMO_APPS_FILE
    saved = (handover.read_json(path) or {}).get("apps") or []
    server = hub.settings.section(ServerSettings)
    host, port = server.host, server.port
    with hub.db.transaction() as session:
        known = set(session.scalars(select(OAuthClient.client_id)))
        if saved and all(a["client_id"] in known and a.get("kind") for a in saved):
            return saved
        apps = []
        for n, (name, kind, app_key) in enumerate(DEMO_APPS, start=1):
            url = f"http://{host}:{port + n}"
            scopes = ["openid", "profile", "email", "org", "roles"]
            if kind == "personnel":  # an HR officer's own token at the hub's API
                scopes += ["hr:read", "hr:write"]
            new = create_client(
                session,
                hub.keyring,
                hub.audit,
                ACTOR,
                name=name,
                scopes=scopes,
                allowed_scopes=scopes,
                grant_types=["authorization_code", "refresh_token"],
                redirect_uris=[url + "/callback"],
                post_logout_redirect_uris=[url + "/"],
                backchannel_logout_uri=url + "/backchannel",
                first_party=True,
                app_key=app_key,
            )
            apps.append(
                {
                    "name": name,
                    "kind": kind,
                    "url": url,
                    "client_id": new.client_id,
                    "client_secret": new.client_secret,
                }
            )
    handover.write_private(path, {"apps": apps})
    return apps


def _demo_events(hub: Hub, apps: list[dict]) -> list[dict]:
    """The documents app ("Văn bản") keeps its users from the hub's outbound SCIM at its
    /scim/v2 (docs/scim.md "Outbound"; a bearer token made here), the others take the
    change events at their /events (docs/events.md); subscribed once, the secrets kept
    beside the app's client secret."""
    import secrets

    from idhub.events.projection import EVENT_TYPES
    from idhub.events.subscriptions import subscribe
    from idhub.scimout.subscriptions import ScimSettings
    from idhub.scimout.subscriptions import subscribe as scim_subscribe

    missing = [a for a in apps if not (a.get("events_secret") or a.get("scim_token"))]
    if not missing:
        return apps
    with hub.db.transaction() as session:
        for demo_app in missing:
            if demo_app["kind"] == "documents":
                token = secrets.token_urlsafe(32)
                scim = ScimSettings(demo_app["url"] + "/scim/v2", token, role_prefix="document:")
                scim_subscribe(session, hub.keyring, hub.audit, ACTOR, demo_app["client_id"], scim)
                demo_app["scim_token"] = token
                continue
            demo_app["events_secret"] = subscribe(
                session, hub.keyring, hub.audit, ACTOR, demo_app["client_id"],
                demo_app["url"] + "/events", EVENT_TYPES, new_key=True,
            )  # fmt: skip
    handover.write_private(handover.secrets_dir(hub) / DEMO_APPS_FILE, {"apps": apps})
    return apps


def _demo_password_in_directory(hub: Hub, user: dict) -> str | None:
    """Give the demo person's directory entry the demo password, once the worker made it.

    Until the sign-on issue makes IDHub the place where people set passwords, this is how
    the demo user gets one that LDAP-bound services (and later IMAP) accept.
    """
    import ldap
    import ldap.filter
    from argon2 import PasswordHasher

    conf = hub.connectors.ldap_config
    conn = ldap.initialize(conf.url)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, conf.timeout_s)
    try:
        conn.simple_bind_s(conf.bind_dn, conf.password)
        flt = ldap.filter.filter_format("(idhubPersonId=%s)", [user["person_id"]])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = conn.search_s(conf.base_dn, ldap.SCOPE_SUBTREE, flt, ["1.1"])
            if found:
                dn = found[0][0]
                hashed = "{ARGON2}" + PasswordHasher().hash(user["password"])
                conn.modify_s(dn, [(ldap.MOD_REPLACE, "userPassword", [hashed.encode()])])
                return dn
            time.sleep(0.5)
    except ldap.LDAPError as exc:
        _say(f"demo password not set in the directory: {exc}")
    finally:
        conn.unbind_s()
    return None


def _load_demo_if_empty(db: Database, audit: AuditLog, demo: DemoSettings) -> None:
    with db.transaction() as session:
        if session.scalar(select(func.count()).select_from(OrgUnit)):
            return
        try:
            from idhub.ops.demo.load import DemoUnavailable, load_demo
        except ImportError:  # pragma: no cover - the demo package ships with the hub
            return
        _say(f"loading the demo province {demo.province} with {demo.staff} staff …")
        started = time.monotonic()
        try:
            summary = load_demo(
                session,
                audit,
                province_code=demo.province,
                staff=demo.staff,
                seed=demo.seed,
                actor=ACTOR,
            )
        except DemoUnavailable as exc:
            _say(f"demo not loaded: {exc}")
            return
    _say(f"demo loaded in {time.monotonic() - started:.1f} s: {summary}")


def _wait_ok(url: str, proc: Child, timeout: float, interval: float, who: str) -> str | None:
    """Poll `url` until it answers 200 (None) or time runs out (the last problem seen);
    a RuntimeError naming `who` when its process exits first."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{who} {proc.how_it_ended()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return None
        except urllib.error.HTTPError as exc:
            last = exc.read().decode(errors="replace")
        except OSError as exc:
            last = str(exc)
        time.sleep(interval)
    return last


def _wait_ready(url: str, proc: Child, timeout: float = 60.0) -> None:
    last = _wait_ok(url + "/readyz", proc, timeout, 0.3, "gunicorn")
    if last is not None:
        raise RuntimeError(f"the hub did not become ready in {timeout:.0f} s: {last}")


def _wait_answering(url: str, proc: Child, timeout: float = 30.0) -> None:
    """An example app is up once its home page answers."""
    if _wait_ok(url + "/", proc, timeout, 0.2, f"the example app at {url}") is not None:
        raise RuntimeError(f"the example app at {url} did not answer in {timeout:.0f} s")


def run_stack(hub: Hub, *, load_demo_data: bool = True) -> int:
    settings = hub.settings
    var_dir = settings.var_dir
    run_dir = var_dir / "run"
    env_path = run_dir / "env.json"
    hub.keyring.ensure_all()
    ldap_settings = settings.section(LdapSettings)
    dev_slapd = settings.section(DevSlapdSettings)
    server = settings.section(ServerSettings)
    ldap_password = ldap_settings.password or hub.keyring.get("ldap_hub_password")

    stopping = False

    def _stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    slapd: Slapd | None = None
    mail: MailStack | None = None
    children: list[Child] = []  # gunicorn, the worker, the example apps
    supervisor = Supervisor(_say, stopping=lambda: stopping)
    try:
        if dev_slapd.enabled:
            url = urlsplit(ldap_settings.url)
            slapd = Slapd(
                dev_slapd.dir,
                base_dn=ldap_settings.base_dn,
                admin_dn=dev_slapd.admin_dn,
                admin_password=hub.keyring.get("ldap_admin_password"),
                hub_dn=ldap_settings.bind_dn,
                hub_password=ldap_password,
                reader_dn=settings.section(DevMailSettings).bind_dn,
                reader_password=hub.keyring.get("ldap_mail_password"),
                host=url.hostname or "127.0.0.1",
                port=url.port or 389,
            )
            slapd.start()
            _say(f"slapd answering on {slapd.url} (data in {slapd.directory})")
        mail = _start_mail(
            settings.section(DevMailSettings),
            ldap_settings,
            hub.keyring.get("ldap_mail_password"),
            hub.keyring.get("doveadm_password"),
        )

        db = hub.db
        upgrade(db.engine)
        if load_demo_data:
            _load_demo_if_empty(db, hub.audit, settings.section(DemoSettings))
        admin_client = _demo_client(hub)
        demo_user = _demo_user(hub)
        if demo_user:
            demo_user = _demo_sign_on(hub, demo_user)
        demo_apps = _demo_events(hub, _demo_apps(hub))
        console = console_accounts(  # the console's demo administrators and commune client
            hub,
            handover.secrets_dir(hub),
            f"http://{server.host}:{server.port}",
            skip={demo_user["username"]} if demo_user else set(),
        )
        db.dispose()

        hub_url = f"http://{server.host}:{server.port}"
        env = dict(os.environ)
        env.setdefault("IDHUB_VAR_DIR", str(var_dir))
        if mail is not None:  # the worker converges the dev stack's mailboxes too
            env.setdefault("IDHUB_MAIL_ENABLED", "true")
            env.setdefault("IDHUB_DEV_MAIL_DIR", str(mail.directory))
        gunicorn = Child("gunicorn", gunicorn_argv(server), env)
        worker = Child("worker", [sys.executable, "-m", "idhub.cli", "worker"], env)
        for child in (gunicorn, worker):
            children.append(child)
            child.start()
        _wait_ready(hub_url, gunicorn)
        issuer = (settings.section(SsoSettings).issuer or server.public_url).rstrip("/")
        for demo_app in demo_apps:
            rp_env = {
                **env,
                "RP_NAME": demo_app["name"],
                "RP_KIND": demo_app["kind"],
                "RP_URL": demo_app["url"],
                "RP_ISSUER": issuer,
                "RP_CLIENT_ID": demo_app["client_id"],
                "RP_CLIENT_SECRET": demo_app["client_secret"],
                "RP_EVENTS_SECRET": demo_app.get("events_secret", ""),
                "RP_SCIM_TOKEN": demo_app.get("scim_token", ""),
                # the app's own user table, kept across restarts of `make run`
                "RP_EVENTS_JOURNAL": str(
                    var_dir / "apps" / f"{demo_app['client_id']}.events.jsonl"
                ),
            }
            app = Child(
                f"example app {demo_app['name']}", [sys.executable, str(EXAMPLE_APP)], rp_env
            )
            children.append(app)
            app.start()

        for demo_app, app in zip(demo_apps, children[2:], strict=True):
            _wait_answering(demo_app["url"], app)
        if demo_user and dev_slapd.enabled:
            demo_user["dn"] = _demo_password_in_directory(hub, demo_user)
        handover.write_private(
            env_path,
            {
                "hub_url": hub_url,
                "issuer": issuer,
                # Prometheus text; the admin client's token reads it (scope metrics or admin).
                "metrics_url": f"{hub_url}/metrics",
                "apps": [
                    {
                        "name": a["name"],
                        "kind": a["kind"],
                        "url": a["url"],
                        "client_id": a["client_id"],
                    }
                    for a in demo_apps
                ],
                "ldap": {
                    "url": ldap_settings.url,
                    "base_dn": ldap_settings.base_dn,
                    "bind_dn": ldap_settings.bind_dn,
                    "password": ldap_password,
                },
                **_mail_env(mail),
                "admin_client": admin_client,
                "demo_user": demo_user,
                "national": handover.national(hub, hub_url),
                **console,
                "scim": handover.scim(hub, hub_url),
            },
        )
        _banner(hub_url, env_path, admin_client, demo_user, demo_apps, console)
        if slapd is not None:
            supervisor.watch(Server("slapd", slapd.is_running, slapd.start, lambda: slapd.pid))
        if mail is not None:
            supervisor.watch(Server("Dovecot", mail.dovecot_running, mail.start_dovecot))
            supervisor.watch(Server("Postfix", mail.postfix_running, mail.start_postfix))
        for child in children:
            supervisor.watch(child)
        while not stopping:
            supervisor.check()
            time.sleep(0.25)
        _say("stopping …")
        return 0
    except Exception as exc:  # noqa: BLE001 - report and clean up whatever failed
        _say(f"failed: {exc}")
        return 1
    finally:
        env_path.unlink(missing_ok=True)
        for child in reversed(children):
            child.terminate()
        for child in reversed(children):
            child.wait(timeout=15)
        if mail is not None:
            mail.stop()
        if slapd is not None:
            slapd.stop()
        _say("stopped")


def _start_mail(
    conf: DevMailSettings, ldap_settings: LdapSettings, reader_password: str, doveadm_password: str
) -> MailStack | None:
    """The throwaway Postfix + Dovecot reading the directory (with the read-only account),
    when [dev_mail] enables it."""
    if not conf.enabled:
        return None
    mail = MailStack(
        conf.dir,
        LdapSource(ldap_settings.url, ldap_settings.base_dn, conf.bind_dn, reader_password),
        hostname=conf.hostname,
        smtp_port=conf.smtp_port,
        imap_port=conf.imap_port,
        lmtp_port=conf.lmtp_port,
        doveadm_port=conf.doveadm_port,
        doveadm_password=doveadm_password,
    )
    if mail.relocated:
        _say(mail.relocated)
    started = time.monotonic()
    mail.start()
    _say(
        f"mail answering in {time.monotonic() - started:.1f} s: SMTP 127.0.0.1:{mail.smtp_port}, "
        f"IMAP 127.0.0.1:{mail.imap_port}, IMAPS 127.0.0.1:{mail.imaps_port}, submission "
        f"127.0.0.1:{mail.submission_port} (TLS with the CA {mail.tls.ca_file}; mail in "
        f"{mail.mail_root})"
    )
    return mail


def _mail_env(mail: MailStack | None) -> dict[str, Any]:
    if mail is None:
        return {}
    return {
        "smtp": {"host": mail.host, "port": mail.smtp_port},
        "imap": {"host": mail.host, "port": mail.imap_port},  # STARTTLS
        "imaps": {"host": mail.host, "port": mail.imaps_port},
        "submission": {"host": mail.host, "port": mail.submission_port},  # STARTTLS, AUTH
        # The stack's own CA: what a mail client trusts for the ports above.
        "mail_ca_file": str(mail.tls.ca_file),
    }


def _banner(
    hub_url: str,
    env_path: Path,
    client: dict,
    user: dict | None,
    apps: list[dict],
    console: dict | None = None,
) -> None:
    lines = [
        "",
        f"  IDHub is running at {hub_url}",
        f"  API docs:        {hub_url}/api/v1/docs",
        f"  OpenAPI:         {hub_url}/api/v1/openapi.json",
        f"  Readiness:       {hub_url}/readyz",
        f"  Metrics:         {hub_url}/metrics (bearer token of the admin client)",
        f"  Connection data: {env_path} (readable by you only)",
        "",
        "  Demo admin API client (client credentials, every scope):",
        f"    client_id      {client['client_id']}",
        f"    client_secret  {client['client_secret']}",
        "  Try:",
        f"    curl -s -u {client['client_id']}:<secret> -d grant_type=client_credentials "
        f"{hub_url}/oauth/token",
    ]
    if user:
        lines += [
            "",
            f"  Demo person: {user['name']} (username {user['username']}; password "
            "and TOTP secret in env.json demo_user)",
        ]
    if console:
        officer = console["unit_hr_officer"]
        lines += [
            "",
            f"  Console: {console['console_url']} (province admin "
            f"{console['province_admin']['username']}; HR officer of {officer['unit_code']} "
            f"{officer['username']}; passwords and TOTP secrets in env.json)",
        ]
    if apps:
        lines += ["", "  Example apps (single sign-on at the hub):"]
        lines += [f"    {a['name']:16s} {a['url']}" for a in apps]
    lines += ["", "  Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)
    sys.stdout.flush()
