"""Structured logging: JSON lines off a terminal, one request id per request, secrets scrubbed.

Scrubbing is the last line of defence, not the first: code never logs secrets on
purpose, and the formatter still masks anything that looks like a credential
(Authorization headers, bearer tokens, password= / client_secret= pairs) in case a
library or an exception message carries one.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Mapping
from typing import Any

from flask import g, has_request_context

_MASK = "[REDACTED]"
_SECRET_PATTERNS = [
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*"),
    re.compile(
        r"(?i)\b(client_secret|password|passwd|access_token|refresh_token|id_token|code_verifier"
        r"|token|secret|api_key|authorization)(['\"]?\s*[=:]\s*['\"]?)([^\s'\"&,;}]+)"
    ),
]
# Attributes every LogRecord has; anything else was passed with extra= and is logged.
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def scrub(text: str) -> str:
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} {_MASK}", text)
    return _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", text)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return scrub(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        extras = {
            k: v
            for k, v in vars(record).items()
            if k not in _STANDARD_ATTRS and not k.startswith("_")
        }
        line = super().format(record)
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return scrub(line)


def make_formatter(fmt: str = "auto", stream: Any = None) -> logging.Formatter:
    """JSON lines, or readable text on a terminal when fmt is "auto" ([logging] format)."""
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not getattr(stream, "isatty", lambda: False)())
    return JsonFormatter() if use_json else TextFormatter()


class GunicornAccessFields(logging.Filter):
    """gunicorn's access record (its atoms) as the fields the hub's own request lines carry:
    method, path, status, duration; never the query string (it may hold a code or a token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if isinstance(atoms, Mapping):
            record.msg, record.args = "%s %s %s", (atoms["m"], atoms["U"], atoms["s"])
            record.method, record.path = atoms["m"], atoms["U"]
            status = str(atoms["s"])
            record.status = int(status) if status.isdigit() else status
            record.bytes = atoms["B"]
            record.duration_ms = atoms["M"]
            record.remote_addr = atoms["h"]
            request_id = atoms["{x-request-id}o"]  # the hub's answer header; "-" when none
            if request_id != "-":
                record.request_id = request_id
        return True


def gunicorn_logconfig(fmt: str = "auto", level: str = "INFO") -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its error and access logs through the hub's formatter, as
    the same lines on stderr. The root handler is named "idhub", so configure_logging in a
    worker replaces it instead of adding a second one."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"idhub": {"()": "idhub.logs.make_formatter", "fmt": fmt}},
        "filters": {
            "request_id": {"()": "idhub.logs.RequestIdFilter"},
            "access": {"()": "idhub.logs.GunicornAccessFields"},
        },
        "handlers": {
            "idhub": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "idhub",
                "filters": ["request_id"],
            }
        },
        "root": {"level": level.upper(), "handlers": ["idhub"]},
        "loggers": {
            "gunicorn.error": {"level": level.upper(), "handlers": [], "propagate": True},
            "gunicorn.access": {
                "level": "INFO",
                "handlers": [],
                "propagate": True,
                "filters": ["access"],
            },
        },
    }


def configure_logging(fmt: str = "auto", level: str = "INFO", stream: Any = None) -> None:
    """Install one handler on the root logger (idempotent: replaces the one set before)."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(make_formatter(fmt, stream))
    handler.addFilter(RequestIdFilter())
    handler.set_name("idhub")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "idhub":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Authlib logs issued tokens at DEBUG; never let that through, whatever the level.
    logging.getLogger("authlib").setLevel(max(logging.INFO, root.level))
    # The HTTP clients (SCIM to the apps) log every request at INFO: thousands a round,
    # while the worker already logs each round's outcome; their warnings still show.
    for client in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(client).setLevel(max(logging.WARNING, root.level))
