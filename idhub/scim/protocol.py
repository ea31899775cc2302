"""What every SCIM endpoint shares: the blueprint, bearer scopes with the client's subtree,
errors in the SCIM format (RFC 7644 §3.12), application/scim+json, weak ETags."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidSyntaxException,
    PreconditionFailedException,
    SCIMException,
)
from werkzeug.exceptions import HTTPException

from idhub.errors import Conflict, DomainError, Invalid, NotFound
from idhub.web.bearer import current_token_object, require_oauth
from idhub.web.common import request_scope

PREFIX = "/scim/v2"
MEDIA_TYPE = "application/scim+json"
READ = ["scim:read", "scim:write"]
WRITE = ["scim:write"]
PERSONAL = "scim:personal"  # CCCD and date of birth shown, and found by

bp = Blueprint("scim", __name__, url_prefix=PREFIX)


def base_url() -> str:
    return request.host_url.rstrip("/") + PREFIX


def respond(body: Any, status: int = 200, etag: str | None = None, **headers: str) -> Response:
    response = Response(
        json.dumps(body, ensure_ascii=False, default=str), status=status, mimetype=MEDIA_TYPE
    )
    if etag:
        response.headers["ETag"] = etag
    response.headers.update(headers)
    return response


def error_body(status: int, detail: str, scim_type: str | None = None) -> dict[str, Any]:
    error = Error(status=status, scim_type=scim_type, detail=detail)
    return error.model_dump(scim_ctx=Context.DEFAULT)


def scim_error(status: int, detail: str, scim_type: str | None = None) -> Response:
    return respond(error_body(status, detail, scim_type), status)


def as_error(exc: Exception) -> tuple[int, str, str | None]:
    """Any failure → (status, detail, scimType)."""
    if isinstance(exc, SCIMException):
        return exc.status, exc.detail, exc.scim_type or None
    if isinstance(exc, ValidationError):
        errors = Error.from_validation_errors(exc.errors()) if exc.errors() else []
        first = errors[0] if errors else None
        return (
            400,
            str(first.detail if first else exc),
            (first.scim_type if first else None) or "invalidValue",
        )
    if isinstance(exc, Conflict):
        return 409, exc.message, "uniqueness"
    if isinstance(exc, Invalid):
        details = f" {exc.details}" if getattr(exc, "details", None) else ""
        return 400, exc.message + details, "invalidValue"
    if isinstance(exc, NotFound):
        return 404, exc.message, None
    if isinstance(exc, DomainError):
        return exc.status, exc.message, None
    if isinstance(exc, HTTPException):
        detail = exc.description or exc.name
        if exc.response is not None:  # the bearer guard's JSON body
            with contextlib.suppress(ValueError):
                text = exc.response.get_data(as_text=True)  # type: ignore[attr-defined]
                detail = json.loads(text).get("message", detail)
        return exc.code or 500, str(detail), None
    current_app.logger.exception("SCIM request failed")
    return 500, "Internal error; the request id is in the logs.", None


@bp.errorhandler(Exception)
def _handle(exc: Exception) -> Response:
    status, detail, scim_type = as_error(exc)
    return scim_error(status, detail, scim_type)


def guarded(scopes: list[str]) -> Callable:
    """A bearer token with any of `scopes`; then the client's subtree (g.admin_scope)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def within(*args: Any, **kwargs: Any) -> Any:
            g.admin_scope = request_scope(scopes)
            return view(*args, **kwargs)

        protected = require_oauth(scopes)(within)

        @functools.wraps(view)
        def in_scim_format(*args: Any, **kwargs: Any) -> Any:
            try:
                return protected(*args, **kwargs)
            except HTTPException as exc:
                # The bearer guard answers with a ready response (no code): re-dressed.
                if exc.code is not None or exc.response is None:
                    raise
                status = exc.response.status_code
                _, detail, _ = as_error(exc)
                response = scim_error(status, detail)
                challenge = exc.response.headers.get("WWW-Authenticate")
                if challenge:
                    response.headers["WWW-Authenticate"] = challenge
                return response

        return in_scim_format

    return decorator


def personal() -> bool:
    token = current_token_object()
    return token is not None and PERSONAL in token.get_scope().split()


def body() -> dict[str, Any]:
    """The request's JSON (application/scim+json or application/json)."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise InvalidSyntaxException(
            detail="Nội dung không phải đối tượng JSON. / The body is not a JSON object."
        )
    return data


def check_version(version: int, if_match: str | None = None) -> None:
    """If-Match (header, or a Bulk operation's `version`) must name the current version."""
    from werkzeug.http import parse_etags

    header = if_match if if_match is not None else request.headers.get("If-Match")
    if not header:
        return
    tags = parse_etags(header)
    if not tags.star_tag and not tags.contains_weak(str(version)):
        raise PreconditionFailedException(
            detail="Bản ghi đã thay đổi từ lần đọc trước; hãy đọc lại. / "
            "The resource changed since you read it; GET it again and retry."
        )
