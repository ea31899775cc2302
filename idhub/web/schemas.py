"""The pieces every wing's request and response bodies (marshmallow) are made of.

Bodies are validated at the edge before any rule runs. Unknown fields are refused
(marshmallow's default), strings are NFC-normalised and may not carry control characters,
identifiers have strict formats. Each wing keeps its own bodies next to its API.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Text(fields.String):
    """Trimmed, NFC-normalised text without control characters; blank is refused."""

    def __init__(self, *, max_length: int = 255, allow_blank: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_length = max_length
        self.allow_blank = allow_blank

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        text = unicodedata.normalize("NFC", text).strip()
        if CONTROL_CHARS.search(text):
            raise ValidationError("Control characters are not allowed.")
        if not text and not self.allow_blank:
            raise ValidationError("Must not be blank.")
        if len(text) > self.max_length:
            raise ValidationError(f"At most {self.max_length} characters.")
        return text


CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$", error="1–32 letters, digits, . _ -")
DOMAIN = validate.Regexp(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
    error="A lower-case DNS domain such as laichau.gov.vn.",
)


class ErrorSchema(Schema):
    code = fields.String(metadata={"description": "Stable machine-readable error code."})
    status = fields.Integer(metadata={"description": "HTTP status."})
    message = fields.String(metadata={"description": "What went wrong, for a person."})
    errors = fields.Dict(metadata={"description": "Field → messages, by request location."})
    details = fields.Raw(metadata={"description": "More about the error."})
    request_id = fields.String()
