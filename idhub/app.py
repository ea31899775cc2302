"""The application factory: settings → extensions → blueprints; nothing built at import."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Flask, g, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

from idhub import services as runtime
from idhub.changes.chain import AuditLog
from idhub.config import load_settings
from idhub.db import Database, close_request_session
from idhub.keyring import Keyring
from idhub.logs import configure_logging
from idhub.oidc import init_sso
from idhub.oidc.server import init_oauth
from idhub.ops.health import bp as health_bp
from idhub.web.api import init_api

access_log = logging.getLogger("idhub.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
}


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

    _install_request_hooks(app)
    app.teardown_appcontext(close_request_session)
    init_oauth(app, settings)
    init_sso(app, settings)
    init_api(app, settings)
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


def _install_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):  # type: ignore[no-untyped-def]
        response.headers["X-Request-Id"] = g.get("request_id", "")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.path.startswith(("/api/", "/oauth/")):
            response.headers.setdefault("Cache-Control", "no-store")
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,  # never the query string: it may carry secrets
            response.status_code,
            extra={
                "status": response.status_code,
                "duration_ms": round(
                    (time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1
                ),
                "remote_addr": request.remote_addr,
            },
        )
        return response
