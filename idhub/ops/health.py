"""Liveness (/healthz: the process answers) and readiness (/readyz: database and directory).

/readyz answers anyone with a short status ("ready" / "not ready", 200 / 503: what a
load balancer or probe needs). The details (each check, its latency, why it failed: the
directory's URL and bind DN among them) go only to a bearer token with the `admin`
scope, and to the log when something is not ready. The checks are kept `CACHE_S`
seconds per process, one refresh at a time, so a flood of probes binds to the
directory once per period, not once per request.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from idhub.ops.migrate import is_current
from idhub.services import current_hub
from idhub.web.bearer import require_oauth

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)

CACHE_S = 5.0  # how long one round of checks answers /readyz
_EXTENSION = "idhub.readiness"


@dataclass
class _Readiness:
    """The last round of checks of one app, and the lock its refresh holds."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    at: float = float("-inf")
    checks: dict = field(default_factory=dict)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


def _check_database() -> dict:
    started = time.perf_counter()
    db = current_hub().db
    try:
        db.ping()
        if not is_current(db.engine):
            return {
                "ok": False,
                "detail": "schema is not at the latest migration; run `idhub db upgrade`",
            }
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", with its reason
        return {"ok": False, "detail": f"database unreachable: {type(exc).__name__}"}
    return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def _check_directory() -> dict:
    connector = current_hub().connectors.directory()
    try:
        health = connector.check()
    finally:
        connector.close()
    return {"ok": health.ok, "detail": health.detail, "latency_ms": round(health.latency_ms, 1)}


def _checks() -> dict:
    """The checks of the last `CACHE_S` seconds, refreshed by one request at a time (the
    others wait for it, then share its answer)."""
    state: _Readiness = current_app.extensions.setdefault(_EXTENSION, _Readiness())
    with state.lock:
        if time.monotonic() - state.at >= CACHE_S:
            state.checks = {"database": _check_database(), "directory": _check_directory()}
            state.at = time.monotonic()
            failing = {name: c for name, c in state.checks.items() if not c["ok"]}
            if failing:
                log.warning("not ready: %s", failing)
        return state.checks


def _is_admin() -> bool:
    """A valid bearer token with the admin scope (anything else: the public answer)."""
    if "Authorization" not in request.headers:
        return False
    try:
        require_oauth.acquire_token(["admin"])
    except Exception:  # noqa: BLE001 - a bad token, or no database to check it against
        return False
    return True


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    checks = _checks()
    ready = all(c["ok"] for c in checks.values())
    status = "ready" if ready else "not ready"
    code = 200 if ready else 503
    if _is_admin():
        return jsonify(status=status, checks=checks), code
    return jsonify(status=status), code
