"""The application factory: settings → services → every wing's blueprints and pages.

The one place that knows all the wings; nothing is built at import."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify

from idhub.account import bp as account_bp
from idhub.admin import api as admin_api
from idhub.audit import api as audit_api
from idhub.audit.settings import AuditSettings
from idhub.config import (
    DatabaseSettings,
    LoggingSettings,
    SecretsSettings,
    Settings,
    load_settings,
)
from idhub.console import bp as console_bp
from idhub.db import close_request_session
from idhub.engine.api import jobs, seats
from idhub.events import api as events_api
from idhub.identity.api import (
    app_delegations,
    assignments,
    batches,
    delegations,
    org_units,
    people,
    positions,
)
from idhub.imports import api as imports_api
from idhub.logs import configure_logging
from idhub.national import api as national_api
from idhub.national.settings import NationalSettings
from idhub.oidc import api as oidc_api
from idhub.oidc import clients_api, init_sso
from idhub.oidc.keycheck import refuse_mismatched_keys
from idhub.oidc.server import init_oauth
from idhub.oidc.settings import OAuthSettings, SsoSettings
from idhub.ops.health import bp as health_bp
from idhub.ops.metrics import bp as metrics_bp
from idhub.ops.settings import DemoSettings, DevSlapdSettings
from idhub.reorg import api as changesets
from idhub.scim import bulk as scim
from idhub.scimout import api as scim_push_api
from idhub.services import (
    DevMailSettings,
    Hub,
    LdapSettings,
    MailSettings,
    ProvisioningSettings,
)
from idhub.web.api import init_api
from idhub.web.limits import install_bounded_ids
from idhub.web.proxies import TrustedProxies, parse_networks
from idhub.web.security import install_request_hooks
from idhub.web.settings import ApiSettings, ServerSettings

# Every settings section the hub reads, checked at start.
SECTIONS: tuple[type, ...] = (
    DatabaseSettings,
    AuditSettings,
    SecretsSettings,
    LoggingSettings,
    LdapSettings,
    MailSettings,
    DevMailSettings,
    ProvisioningSettings,
    ServerSettings,
    ApiSettings,
    OAuthSettings,
    SsoSettings,
    DevSlapdSettings,
    DemoSettings,
    NationalSettings,
)


def load_checked(
    tree: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """The settings tree (loaded unless given), every section bound and checked."""
    return Settings(tree if tree is not None else load_settings(overrides)).check(SECTIONS)


def create_app(
    settings: Mapping[str, Any] | None = None, *, overrides: Mapping[str, Any] | None = None
) -> Flask:
    checked = load_checked(settings, overrides)
    logging_settings = checked.section(LoggingSettings)
    configure_logging(logging_settings.format, logging_settings.level)
    app = Flask("idhub")
    install_bounded_ids(app)  # before any route: every <int:…> id fits the database
    hub = Hub(checked)
    # A missing key with data present stops the hub here, before it serves anything.
    hub.keyring.check_start()
    refuse_mismatched_keys(hub.db, hub.keyring)  # another node's key would fork the data
    app.config.update(
        SECRET_KEY=hub.keyring.get("flask_secret_key"),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Vietnamese stays readable
    hub.init_app(app)
    proxies = parse_networks(checked.section(ServerSettings).trusted_proxies)
    if proxies:
        app.wsgi_app = TrustedProxies(app.wsgi_app, proxies)  # type: ignore[method-assign]

    install_request_hooks(app)
    app.teardown_appcontext(close_request_session)
    init_oauth(app, hub)
    init_sso(app, hub)
    init_api(
        app,
        checked.section(ServerSettings).public_url,
        [
            org_units.blp,
            people.blp,
            positions.blp,
            assignments.blp,
            batches.blp,
            imports_api.blp,
            audit_api.blp,
            jobs.blp,
            changesets.blp,
            delegations.blp,
            app_delegations.blp,
            seats.blp,
            oidc_api.blp,
            events_api.blp,
            scim_push_api.blp,
            national_api.blp,
            admin_api.blp,
            clients_api.blp,
        ],
    )
    app.register_blueprint(health_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(account_bp)
    app.register_blueprint(console_bp)
    app.register_blueprint(national_api.keys_bp)
    app.register_blueprint(scim.bp)  # /scim/v2: every SCIM route, Bulk's included

    @app.get("/")
    def index():  # type: ignore[no-untyped-def]
        return jsonify(
            service="IDHub",
            console="/admin",
            api_docs="/api/v1/docs",
            openapi="/api/v1/openapi.json",
            token_endpoint="/oauth/token",
            openid_configuration="/.well-known/openid-configuration",
            health="/healthz",
            scim="/scim/v2",
            ready="/readyz",
            metrics="/metrics",
        )

    return app
