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
        # The hooks: the metrics' multiprocess folder (made and set by the master, before
        # it forks), and a dead worker's live gauges removed.
        "--config",
        "python:idhub.ops.gunicorn_hooks",
        # No gunicorn access log: the app logs each request itself, without query strings.
        "idhub.wsgi:app",
    ]
