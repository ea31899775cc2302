"""The console's spreadsheet import: upload → preview (every row checked, nothing written)
→ confirm → one all-or-nothing batch → a progress page until every person is converged.

The rules are the imports wing's (`idhub.imports`); this module only shows them. The
checked upload waits server-side for its uploader (`ImportUpload`), so the confirm form
carries nothing but the upload's id and digest and a CSRF token.
"""

from __future__ import annotations

import uuid

from flask import redirect, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from idhub.console.frame import Admin, bp, form_reason, local, require, require_form, section
from idhub.console.frame import render_console as render
from idhub.db import get_db
from idhub.errors import DomainError
from idhub.imports import service
from idhub.imports.checks import Checked
from idhub.imports.columns import BY_KEY, COLUMNS
from idhub.imports.messages import Message
from idhub.imports.reader import MAX_BYTES, MAX_ROWS, Refused
from idhub.imports.sheets import CSV_TYPE, XLSX_TYPE, error_report, template
from idhub.models import ImportUpload
from idhub.oidc.i18n import locale, t
from idhub.web.limits import allow_larger_body

SCOPES = ("hr:write", "admin")
SHOWN = 200  # rows of the "will be created" table; the rest are counted
section("console.import_home", "console.nav.import", SCOPES)
allow_larger_body("console.import_upload", MAX_BYTES + 64 * 1024)


def _admin() -> Admin | Response:
    return require(*SCOPES)


def _column(key: str) -> str:
    return BY_KEY[key].header if locale() == "vi" else t(f"import.column.{key}")


def _page(status: int = 200, **context: object) -> Response:
    return render(
        "console_import.html",
        status,
        title=t("console.import.title"),
        columns=COLUMNS,
        column=_column,
        max_mb=MAX_BYTES // (1024 * 1024),
        max_rows=MAX_ROWS,
        **context,
    )


def _refused(refused: Refused) -> str:
    return Message.of(refused.code, **refused.values).say(locale())


@bp.errorhandler(413)
def _too_large(error: HTTPException) -> Response | HTTPException:
    """An upload over the limit, refused before it was read: the page, not JSON."""
    if request.endpoint != "console.import_upload":
        return error
    return _page(413, error=Message.of("too_large", limit_mb=MAX_BYTES // (1024 * 1024)).say(
        locale()))  # fmt: skip


@bp.get("/imports")
def import_home() -> Response:
    admin = _admin()
    if isinstance(admin, Response):
        return admin
    return _page()


@bp.get("/imports/template.<kind>")
def import_template(kind: str) -> Response:
    admin = _admin()
    if isinstance(admin, Response):
        return admin
    if kind not in ("xlsx", "csv"):
        return render("console_message.html", 404, title=t("console.error.not_found"),
                      message=t("console.error.not_found"))  # fmt: skip
    return Response(
        template(kind),
        mimetype=CSV_TYPE if kind == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="mau-nhap-nhan-su.{kind}"'},
    )


@bp.post("/imports")
def import_upload() -> Response:
    admin = _admin()
    if isinstance(admin, Response):
        return admin
    require_form()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(422, error=t("console.import.no_file"))
    data = upload.stream.read(MAX_BYTES + 1)
    scope = admin.scope(*SCOPES)
    try:
        with get_db().session(write=False) as session:
            checked = service.preview(session, scope, data)
    except Refused as refused:
        return _page(422, error=_refused(refused))
    with get_db().transaction() as session:
        kept = service.keep(session, admin.person.id, upload.filename, checked)
        upload_id = kept.id
    return redirect(url_for("console.import_preview", upload_id=upload_id), 303)


def _owned(
    admin: Admin, upload_id: str, session: object, *, for_update: bool = False
) -> ImportUpload | None:
    try:
        wanted = uuid.UUID(upload_id)
    except ValueError:
        return None
    return service.owned(session, wanted, admin.person.id, for_update=for_update)  # type: ignore[arg-type]


def _not_found() -> Response:
    return render("console_message.html", 404, title=t("console.error.not_found"),
                  message=t("console.import.gone"))  # fmt: skip


def _preview(
    upload: ImportUpload, checked: Checked, status: int = 200, **extra: object
) -> Response:
    good = [r for r in checked.rows if r.ok]
    return _page(
        status,
        upload=upload,
        checked=checked,
        bad=[r for r in checked.rows if not r.ok],
        good=good[:SHOWN],
        good_count=len(good),
        expires=local(upload.expires_at),
        **extra,
    )


@bp.get("/imports/<upload_id>")
def import_preview(upload_id: str) -> Response:
    admin = _admin()
    if isinstance(admin, Response):
        return admin
    with get_db().session(write=False) as session:
        upload = _owned(admin, upload_id, session)
        if upload is None:
            return _not_found()
        if upload.state == "applied":
            return redirect(url_for("console.import_progress", upload_id=upload.id), 303)
        if not service.usable(upload, upload.digest):
            return _not_found()
        checked = service.recheck(session, admin.scope(*SCOPES), upload)
        return _preview(upload, checked)


@bp.get("/imports/<upload_id>/errors.csv")
def import_errors(upload_id: str) -> Response:
    admin = _admin()
    if isinstance(admin, Response):
        return admin
    with get_db().session(write=False) as session:
        upload = _owned(admin, upload_id, session)
        if upload is None or upload.rows is None:
            return _not_found()
        checked = service.recheck(session, admin.scope(*SCOPES), upload)
    return Response(
        error_report(checked),
        mimetype=CSV_TYPE,
        headers={"Content-Disposition": 'attachment; filename="loi-nhap-nhan-su.csv"'},
    )


@bp.post("/imports/<upload_id>/confirm")
def import_confirm(upload_id: str) -> Response:
    admin = _admin()
    if isinstance(admin, Response):
        return admin
    require_form()
    reason, problem = form_reason()
    if problem:
        return _page(422, error=problem)
    try:
        with get_db().transaction() as session:
            upload = _owned(admin, upload_id, session, for_update=True)
            if upload is None or not service.usable(upload, request.form.get("digest", "")):
                return _not_found()
            scope = admin.scope(*SCOPES)
            checked = service.recheck(session, scope, upload)  # the database may have changed
            if not checked.ok:
                session.rollback()
                return _preview(upload, checked, 409, error=t("console.import.changed"))
            service.apply(
                admin.hr_context(session, reason or None, *SCOPES), checked, upload=upload
            )
    except DomainError as exc:
        return _page(409, error=t("console.import.failed", reason=exc.message))
    return redirect(url_for("console.import_progress", upload_id=upload_id), 303)


@bp.get("/imports/<upload_id>/progress")
def import_progress(upload_id: str) -> Response:
    admin = _admin()
    if isinstance(admin, Response):
        return admin
    with get_db().session(write=False) as session:
        upload = _owned(admin, upload_id, session)
        if upload is None or upload.state != "applied":
            return _not_found()
        done = service.progress(session, upload.people or [])
    return render(
        "console_import_progress.html",
        title=t("console.import.progress_title"),
        upload=upload,
        progress=done,
    )
