"""Domain errors: a stable machine code, a message a person understands, optional details.

Raised by the service layer (HR rules), turned into JSON by the API, printed by the CLI.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Invalid(DomainError):
    """The request is well-formed but breaks an HR rule; `details` maps field → messages."""

    status = 422
    code = "validation_failed"


class PreconditionFailed(DomainError):
    status = 412
    code = "precondition_failed"


class PreconditionRequired(DomainError):
    status = 428
    code = "precondition_required"
