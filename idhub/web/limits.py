"""Limits on what a request may carry: the body's size (with a length or chunked), and
integers in paths that a database column can hold.

Werkzeug enforces MAX_CONTENT_LENGTH on a body with Content-Length (413 before reading),
but a chunked body (no length up front; gunicorn hands it over with
`wsgi.input_terminated`) is silently cut at the limit, so the view sees truncated JSON and
answers 400. Here such a body is read before the view, at most one byte past the limit;
over it the answer is 413 in the JSON error format, under it the view reads it as if it
had come with its length.
"""

from __future__ import annotations

import builtins
import io

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import IntegerConverter, Map

_CHUNK = 64 * 1024
# Read (and drop) this much of a refused body so the client, still sending, reads the 413
# rather than a connection reset; beyond it the connection is simply closed.
_DRAIN = 16 * 1024 * 1024


def _read_up_to(stream: io.RawIOBase | io.BufferedIOBase, limit: int) -> bytes:
    data = bytearray()
    while len(data) <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - len(data)))
        if not chunk:
            break
        data.extend(chunk)
    return bytes(data)


def _drain(stream: io.RawIOBase | io.BufferedIOBase, most: int = _DRAIN) -> None:
    left = builtins.min(most, _DRAIN)
    while left > 0:
        chunk = stream.read(min(_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)


# The few endpoints that take a file (a spreadsheet import) may take more than the
# default: endpoint → its own limit, still refused before the body is read.
LARGER_BODIES: dict[str, int] = {}


def allow_larger_body(endpoint: str, limit: int) -> None:
    LARGER_BODIES[endpoint] = limit


def install_body_limit(app: Flask) -> None:
    """Refuse any body over MAX_CONTENT_LENGTH (or the endpoint's own limit) with 413,
    chunked or not."""

    @app.before_request
    def _bounded_body() -> None:
        limit = LARGER_BODIES.get(request.endpoint or "", app.config.get("MAX_CONTENT_LENGTH"))
        if request.endpoint in LARGER_BODIES:
            request.max_content_length = limit  # Werkzeug's own check, for this request
        environ = request.environ
        if limit is None or "stream" in request.__dict__:  # no limit, or already read
            return
        raw = environ["wsgi.input"]
        length = request.content_length
        if length is not None:
            if length > limit:
                _drain(raw, length)  # never past Content-Length: the server may not end it
                raise RequestEntityTooLarge()
            return  # Werkzeug bounds a sized body by its length
        if not environ.get("wsgi.input_terminated"):
            return  # Werkzeug reads no body without a length here
        data = _read_up_to(raw, limit)
        if len(data) > limit:
            _drain(raw)
            raise RequestEntityTooLarge()
        environ["wsgi.input"] = io.BytesIO(data)
        environ["CONTENT_LENGTH"] = str(len(data))


# -- Integers a database can hold -------------------------------------------------------------
# Ids and offsets are 64-bit signed integers in the database; a larger one would reach the
# driver and fail there (500). In a path it names nothing (404), in a query it is invalid (422).
MAX_ID = 2**63 - 1


class BoundedIntegerConverter(IntegerConverter):
    """`<int:…>` that matches 0 … 2⁶³−1 only (the OpenAPI document says so as `maximum`)."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False) -> None:  # fmt: skip
        bound = MAX_ID if max is None else builtins.min(max, MAX_ID)
        super().__init__(map, fixed_digits, min, bound, signed)


def install_bounded_ids(app: Flask) -> None:
    """Every `<int:…>` rule of the app bounded to 64 bits; call before any route is added."""
    app.url_map.converters["int"] = BoundedIntegerConverter
