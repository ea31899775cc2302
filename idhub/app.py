"""The application factory: settings → services → every wing's blueprints and pages.

The one place that knows all the wings; nothing is built at import."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from idhub import services as runtime
from idhub.audit import api as audit_api
from idhub.changes.chain import AuditLog
from idhub.config import load_settings
from idhub.db import Database, close_request_session
from idhub.engine.api import jobs, seats
from idhub.identity.api import assignments, batches, delegations, org_units, people, positions
from idhub.keyring import Keyring
from idhub.logs import configure_logging
from idhub.oidc import api as oidc_api
from idhub.oidc import init_sso
from idhub.oidc.server import init_oauth
from idhub.ops.health import bp as health_bp
from idhub.reorg import api as changesets
from idhub.web.api import init_api
from idhub.web.security import install_request_hooks


def create_app(
    settings: dict[str, Any] | None = None, *, overrides: dict[str, Any] | None = None
) -> Flask:
    settings = settings or load_settings(overrides)
    configure_logging(settings["logging"]["format"], settings["logging"]["level"])
    app = Flask("idhub")
    keyring = Keyring(settings["secrets"]["dir"])
    app.config.update(
        SECRET_KEY=keyring.get("flask_secret_key"),
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,
        JSON_SORT_KEYS=False,
        IDHUB=settings,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]  # Vietnamese stays readable
    app.extensions["idhub.settings"] = settings
    app.extensions["idhub.keyring"] = keyring
    app.extensions["idhub.db"] = Database(settings["database"]["url"])
    app.extensions["idhub.audit"] = AuditLog(keyring.get("audit_chain_key"))
    app.extensions["idhub.ldap_config"] = runtime.ldap_config(settings, keyring)
    app.extensions["idhub.rules"] = runtime.rules(settings)
    hops = int(settings["server"].get("proxy_hops", 0))
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    install_request_hooks(app)
    app.teardown_appcontext(close_request_session)
    init_oauth(app, settings)
    init_sso(app, settings)
    init_api(
        app,
        settings,
        [
            org_units.blp,
            people.blp,
            positions.blp,
            assignments.blp,
            batches.blp,
            audit_api.blp,
            jobs.blp,
            changesets.blp,
            delegations.blp,
            seats.blp,
            oidc_api.blp,
        ],
    )
    app.register_blueprint(health_bp)

    @app.get("/")
    def index():  # type: ignore[no-untyped-def]
        return jsonify(
            service="IDHub",
            api_docs="/api/v1/docs",
            openapi="/api/v1/openapi.json",
            token_endpoint="/oauth/token",
            openid_configuration="/.well-known/openid-configuration",
            health="/healthz",
            ready="/readyz",
        )

    return app
