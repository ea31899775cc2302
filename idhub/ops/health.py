"""Liveness (/healthz: the process answers) and readiness (/readyz: database and directory)."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from idhub.ops.migrate import is_current
from idhub.services import current_hub

bp = Blueprint("health", __name__)


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


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    checks = {"database": _check_database(), "directory": _check_directory()}
    ready = all(c["ok"] for c in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503
