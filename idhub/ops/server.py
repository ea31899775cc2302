"""How the hub is served: gunicorn (a production WSGI server), never Flask's development server."""

from __future__ import annotations

import sys

from idhub.web.settings import ServerSettings


def gunicorn_argv(
    server: ServerSettings, bind: str | None = None, workers: int | None = None
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind or f"{server.host}:{server.port}",
        "--workers",
        str(workers or server.workers),
        "--graceful-timeout",
        "10",
        "--no-control-socket",
        # gunicorn's error and access logs as the hub's JSON lines (no query strings).
        "--config",
        "python:idhub.ops.gunicorn_conf",
        "idhub.wsgi:app",
    ]
