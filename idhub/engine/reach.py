"""Is an HTTP endpoint there at all? The health check of targets that POST to other
systems (the apps' change events, the national exchange's push): while every endpoint a
target sends to is away, the worker probes with this instead of backing jobs off."""

from __future__ import annotations

import socket
import time
import urllib.parse

from connectors.base import Health


def answers(urls: list[str], timeout_s: float) -> Health:
    """Does any of these endpoints accept a connection again? (A TCP connect to its host
    and port.)"""
    started = time.monotonic()
    errors = []
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            with socket.create_connection((parts.hostname or "", port), timeout=timeout_s):
                pass
        except OSError as exc:
            errors.append(f"{parts.netloc}: {exc}")
            continue
        return Health(True, f"{parts.netloc} answers", (time.monotonic() - started) * 1000)
    return Health(False, "; ".join(errors) or "no endpoint", (time.monotonic() - started) * 1000)
