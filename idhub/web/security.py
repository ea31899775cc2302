"""Headers every response carries, and the request id, access-log line and latency metric
of each request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from idhub.metrics import request_answered
from idhub.web.limits import install_body_limit

access_log = logging.getLogger("idhub.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,64}$")
# A metric label: any other method (a client may send anything) is "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

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
# Over HTTPS only (RFC 6797 7.2); the scheme a trusted proxy reports counts (web/proxies).
HSTS = "max-age=31536000"


def install_request_hooks(app: Flask) -> None:
    @app.before_request
    def _start() -> None:
        supplied = request.headers.get("X-Request-Id", "")
        g.request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        g.started = time.perf_counter()

    install_body_limit(app)  # after the request id, so a 413 carries it

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.get("request_id", "")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if request.path.startswith(("/api/", "/oauth/", "/scim/")):
            response.headers.setdefault("Cache-Control", "no-store")
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        # The endpoint's name, never the path: ids in paths would make a series per object.
        endpoint = request.endpoint or "unmatched"
        method = request.method if request.method in _METHODS else "other"
        request_answered(endpoint, method, f"{response.status_code // 100}xx", seconds)
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,  # never the query string: it may carry secrets
            response.status_code,
            extra={
                "status": response.status_code,
                "duration_ms": round(seconds * 1000, 1),
                "remote_addr": request.remote_addr,
            },
        )
        return response
