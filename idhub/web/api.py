"""The REST API's frame (flask-smorest) under /api/v1: the OpenAPI document, the bearer
scheme, the JSON error format and the local Swagger UI. Each wing brings its blueprints."""

from __future__ import annotations

import importlib.resources
import logging
from collections.abc import Iterable
from typing import Any

from flask import Flask, g, jsonify, render_template, send_from_directory
from flask.typing import ResponseReturnValue
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException

from idhub.errors import DomainError
from idhub.web.schemas import ErrorSchema

log = logging.getLogger(__name__)

# Stable codes for the HTTP errors raised by Flask / webargs rather than by our rules.
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    428: "precondition_required",
    429: "too_many_requests",
}
_HTTP_MESSAGES = {
    404: "There is nothing at this address.",
    405: "This method is not allowed here.",
    413: "The request body is larger than the server accepts.",
    422: "Some fields are missing or invalid; see errors.",
}


def _error_body(status: int, code: str, message: str | None, **extra: object) -> dict:
    body: dict = {"code": code, "status": status, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    body["request_id"] = g.get("request_id")
    return body


class IdhubApi(Api):
    ERROR_SCHEMA = ErrorSchema

    def register_blueprint(self, blp: Blueprint, **options: Any) -> None:
        """As flask-smorest's; a blueprint that only adds a door to another wing's resource
        (`blp.own_tag = False`, its operations tagged with that resource) adds no empty tag
        of its own to the document."""
        super().register_blueprint(blp, **options)
        if not getattr(blp, "own_tag", True):
            self.spec._tags.pop()  # the tag flask-smorest has just appended

    def handle_http_exception(self, error: HTTPException) -> ResponseReturnValue:
        if error.response is not None:  # already a complete response (e.g. from the protector)
            return error.response
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        message = data.get("message") or _HTTP_MESSAGES.get(status) or error.description
        headers = data.get("headers") or {}
        body = _error_body(status, _HTTP_CODES.get(status, "http_error"), message, errors=errors)
        return jsonify(body), status, headers


def handle_domain_error(error: DomainError) -> ResponseReturnValue:
    body = _error_body(error.status, error.code, error.message, details=error.details)
    return jsonify(body), error.status


def handle_unexpected(error: Exception) -> ResponseReturnValue:
    if isinstance(error, HTTPException):
        return error
    log.exception("unhandled error")
    body = _error_body(500, "internal_error", "Something went wrong on our side; it was logged.")
    return jsonify(body), 500


def init_api(app: Flask, public_url: str, blueprints: Iterable[Blueprint]) -> Api:
    app.config.update(
        API_TITLE="IDHub API",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "HR data (org units, people, positions, assignments) and the audit trail "
                    "of IDHub. Authenticate with an OAuth 2 client-credentials token from "
                    "/oauth/token. Errors are JSON with a stable `code`."
                )
            },
            "servers": [{"url": public_url}],
        },
    )
    api = IdhubApi(app)
    scopes = {
        "hr:read": "Read HR data.",
        "hr:write": "Change HR data (also reads).",
        "audit:read": "Read the audit trail.",
        "admin": "Everything.",
        "apps": "Manage the sign-on apps and API clients one owns (an app owner).",
        "national:exchange": "Make, list and fetch signed national exports; send signed batches.",
        "metrics": "Read /metrics (Prometheus text format).",
        "scim:read": "SCIM 2.0 (/scim/v2): read Users and Groups.",
        "scim:write": "SCIM 2.0: joiners, changes and leavers of Users (also reads).",
        "scim:personal": "SCIM 2.0: also CCCD and date of birth (personal data).",
    }
    api.spec.components.security_scheme(
        "oauth2",
        {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": scopes}},
        },
    )
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(Exception, handle_unexpected)
    _register_docs(app)
    return api


def _register_docs(app: Flask) -> None:
    """Browsable docs with Swagger UI served from a maintained package (flask-swagger-ui's
    dist/ folder: Swagger UI's own release files), not from a CDN. Only its files are used:
    its blueprint's page starts Swagger UI with an inline script, which the CSP forbids."""
    swagger_ui_dist = str(importlib.resources.files("flask_swagger_ui") / "dist")

    @app.get("/api/v1/docs")
    def api_docs() -> ResponseReturnValue:
        return render_template("api_docs.html")

    @app.get("/api/v1/docs/static/<path:filename>")
    def api_docs_static(filename: str) -> ResponseReturnValue:
        return send_from_directory(swagger_ui_dist, filename, max_age=3600)
