"""/api/v1/imports: a spreadsheet of joiners checked row by row, and applied as one batch.

`dry_run=true` checks and answers the rows' results, writing nothing. Otherwise a file
whose every row passes is applied as ONE all-or-nothing batch through the bulk path (the
rules, audit events and converge jobs of POST /api/v1/batches); a single bad row and
nothing is written (422 with every row's errors). Scoped like the batch API: hr:write,
and a subtree-limited client only for units in its subtree.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from idhub.db import db_session
from idhub.errors import Invalid
from idhub.imports import service
from idhub.imports.checks import Checked
from idhub.imports.messages import Message
from idhub.imports.reader import MAX_BYTES, Refused
from idhub.imports.sheets import CSV_TYPE, XLSX_TYPE, template
from idhub.web.common import IDEMPOTENCY_DOC, WRITE_SCOPES, current_scope, hr_context, scoped
from idhub.web.common import writes as write_transaction
from idhub.web.limits import allow_larger_body
from idhub.web.schemas import ErrorSchema, Text

blp = Blueprint(
    "imports", __name__, url_prefix="/api/v1/imports", description="Spreadsheet imports."
)
allow_larger_body("imports.Imports", MAX_BYTES + 64 * 1024)  # the file and its multipart frame


class UploadFileSchema(Schema):
    file = fields.Raw(
        required=True,
        metadata={"type": "string", "format": "binary", "description": ".xlsx or UTF-8 .csv"},
    )


class UploadFormSchema(Schema):
    """The upload's fields as the document shows them: one multipart body holding the file
    and these. (flask-smorest documents one body location; the file is loaded from
    `files` by UploadFileSchema, and a `file` sent as text is refused there.)"""

    file = fields.Raw(
        metadata={
            "type": "string",
            "format": "binary",
            "description": "Required: the sheet, .xlsx or UTF-8 .csv, at most 10 MB.",
        }
    )
    dry_run = fields.Boolean(
        load_default=False, metadata={"description": "Check every row; write nothing."}
    )
    reason = Text(max_length=500, metadata={"description": "Why (e.g. the decision number)."})


class MessageSchema(Schema):
    code = fields.String()
    vi = fields.String()
    en = fields.String()


class RowResultSchema(Schema):
    row = fields.Integer(metadata={"description": "The row's number in the sheet."})
    status = fields.String(validate=validate.OneOf(["ok", "error"]))
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.Nested(MessageSchema)),
        metadata={"description": "Column → its problems."},
    )


class ImportResultSchema(Schema):
    dry_run = fields.Boolean()
    ok = fields.Boolean(metadata={"description": "Every row passed."})
    rows_total = fields.Integer()
    rows_with_errors = fields.Integer()
    unknown_headers = fields.List(fields.String())
    rows = fields.List(fields.Nested(RowResultSchema))
    people = fields.List(fields.UUID(), metadata={"description": "The people created."})
    batch_items = fields.List(fields.Dict(), metadata={"description": "The batch: index, op, id."})
    jobs = fields.Integer(metadata={"description": "People queued for converge."})


class TemplateQuerySchema(Schema):
    format = fields.String(load_default="xlsx", validate=validate.OneOf(["xlsx", "csv"]))


def refusal(refused: Refused) -> Invalid:
    message = Message.of(refused.code, **refused.values)
    return Invalid(
        f"{message.vi} / {message.en}", code=f"import_{refused.code}", details=message.as_dict()
    )


def _rows(checked: Checked) -> list[dict[str, Any]]:
    return [r.as_dict() for r in checked.rows]


@blp.route("")
class Imports(MethodView):
    @scoped(blp, WRITE_SCOPES)
    @write_transaction
    @blp.doc(**IDEMPOTENCY_DOC)
    @blp.arguments(UploadFileSchema, location="files")
    @blp.arguments(UploadFormSchema, location="form", content_type="multipart/form-data")
    @blp.response(200, ImportResultSchema)
    @blp.alt_response(409, schema=ErrorSchema, description="The batch breaks an HR rule.")
    @blp.alt_response(413, schema=ErrorSchema, description="Over 10 MB.")
    def post(self, files: dict[str, Any], form: dict[str, Any]) -> dict[str, Any]:
        """Check a sheet of joiners (.xlsx or UTF-8 .csv) and, unless a dry run, apply it
        as one all-or-nothing batch."""
        if len(request.files.getlist("file")) != 1:  # the rest would be dropped unread
            raise Invalid(
                "Mỗi lần gửi một tệp. / One file per upload.",
                code="import_one_file",
                details={"file": ["One file."]},
            )
        data = files["file"].read(MAX_BYTES + 1)
        session = db_session()
        try:
            checked = service.preview(session, current_scope(), data)
        except Refused as refused:
            raise refusal(refused) from refused
        answer: dict[str, Any] = {
            "dry_run": form["dry_run"],
            "ok": checked.ok,
            "rows_total": len(checked.rows),
            "rows_with_errors": checked.errors,
            "unknown_headers": checked.unknown_headers,
            "rows": _rows(checked),
        }
        if form["dry_run"]:
            return answer
        if not checked.ok:
            raise Invalid(
                "Có dòng không hợp lệ; chưa ghi gì. / Some rows are invalid; nothing was written.",
                code="import_rows_invalid",
                details={"rows": [r for r in answer["rows"] if r["status"] == "error"]},
            )
        applied = service.apply(hr_context(reason=form.get("reason")), checked)
        return {
            **answer,
            "people": applied.people,
            "batch_items": applied.items,
            "jobs": applied.jobs,
        }


@blp.route("/template")
class Template(MethodView):
    @scoped(blp, WRITE_SCOPES)
    @blp.arguments(TemplateQuerySchema, location="query")
    @blp.response(
        200,
        content_type=XLSX_TYPE,
        description="The template: .xlsx (with a sheet of explanations) or .csv.",
    )
    def get(self, query: dict[str, str]) -> Response:
        """The import template, with a header row and an example row."""
        return template_response(query["format"])


def template_response(kind: str) -> Response:
    body = template(kind)
    name = f"mau-nhap-nhan-su.{kind}"
    return Response(
        body,
        mimetype=CSV_TYPE if kind == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
