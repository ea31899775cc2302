"""Change sets at the console: list, create (form or CSV), check, preview per person,
apply or schedule, follow, cancel — through `idhub.reorg`, as the API does.

A subtree administrator sees and drafts change sets of their subtree; applying and
scheduling are the province's (`province_admin_required` from the service layer).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Response as FlaskResponse
from flask import abort, redirect, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from idhub.admin_scope import visible
from idhub.console import changeset_form as form
from idhub.console.frame import (
    PAGE_SIZE,
    Admin,
    bp,
    page_number,
    render_console,
    require,
    require_form,
    section,
)
from idhub.db import get_db
from idhub.errors import DomainError
from idhub.models import ChangeSet, ChangeSetState
from idhub.oidc.i18n import t
from idhub.reorg import changesets
from idhub.reorg.preview import preview, to_csv
from idhub.services import current_hub
from provisioning.naming import search_key

SCOPES = ("hr:write", "admin")
PREVIEW_ROWS = 1000  # on the page; the CSV has every row
_ACTIONS: dict[str, Any] = {
    "apply": changesets.apply,
    "schedule": changesets.schedule,
    "cancel": changesets.cancel,
}

section("console.changesets_list", "console.changeset.title.list", SCOPES)


def error_text(exc: DomainError, prefix: str) -> str:
    """A domain error in the reader's language: `<prefix>.err.<code>` when the catalogue
    has it, else the service's own message (already bilingual for scope refusals)."""
    key = f"{prefix}.err.{exc.code}"
    text = t(key)
    return exc.message if text == key else f"{text} ({exc.message})"


# The schema's commonest messages, said in the reader's language (the rest as they are).
_MESSAGES = (
    ("Missing data for required field.", "required"),
    ("Must not be blank.", "required"),
    ("Field may not be null.", "required"),
    ("Required for ", "required"),
    ("Not a valid date.", "date"),
    ("Not a field of ", "not_a_field"),
    ("Must be one of", "unknown_op"),
    ("A list of at least two parts.", "two_parts"),
)


# ... and those that carry a number, or depend on the field (a wrong type is not a wrong op).
_PATTERNS = (
    (re.compile(r"At most (?P<n>\d+) characters\."), "too_long"),
    (re.compile(r"Length must be between (?P<low>\d+) and (?P<high>\d+)\."), "count"),
    (re.compile(r"1–32 letters, digits"), "code"),
    (re.compile(r"A lower-case DNS domain"), "domain"),
)


def _message(text: str, field: str = "") -> str:
    if text.startswith("Must be one of") and field.split(".")[-1] != "op":
        return t("console.changeset.form.msg.choice")
    for start, slug in _MESSAGES:
        if text.startswith(start):
            return t(f"console.changeset.form.msg.{slug}")
    for pattern, slug in _PATTERNS:
        found = pattern.match(text)
        if found:
            return t(f"console.changeset.form.msg.{slug}", **found.groupdict())
    return text


def _problem_line(line: str) -> str:
    if line.startswith("row:"):
        _, number, field, message = line.split(":", 3)
        return t(
            "console.changeset.form.row_error",
            row=number,
            field=_label(field),
            message=_message(message, field),
        )
    if line.startswith("field:"):
        _, field, message = line.split(":", 2)
        return t(
            "console.changeset.form.field_error",
            field=_label(field),
            message=_message(message, field),
        )
    key, _, extra = line.partition(":")
    return t(key, columns=extra) if extra else t(key)


_ALIASES = {"sources": "units", "source": "units", "unit": "units", "default": "successor"}


def _label(field: str) -> str:
    name = _ALIASES.get(field.split(".")[0], field.split(".")[0])
    key = f"console.changeset.field.{name}"
    text = t(key)
    return field if text == key else text


def _scope(admin: Admin) -> Any:
    return admin.scope(*SCOPES)


def _load(admin: Admin, change_set_id: uuid.UUID) -> ChangeSet:
    """The change set if it is in the viewer's scope (404 as absent otherwise)."""
    with get_db().reading() as session:
        try:
            visible.require_change_set(session, _scope(admin), change_set_id)
            found = changesets.get_change_set(session, change_set_id)
        except DomainError:
            abort(404)
        session.expunge(found)
        return found


def _require(*scopes: str) -> Admin | Response:
    return require(*(scopes or SCOPES))


@bp.get("/changesets")
def changesets_list() -> Response:
    admin = _require()
    if isinstance(admin, Response):
        return admin
    state = request.args.get("state", "")
    page = page_number()
    with get_db().reading() as session:
        query = visible.change_sets(select(ChangeSet), session, _scope(admin))
        if state in {s.value for s in ChangeSetState}:
            query = query.where(ChangeSet.state == ChangeSetState(state))
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(
            session.scalars(
                query.order_by(ChangeSet.effective_date.desc(), ChangeSet.id)
                .limit(PAGE_SIZE)
                .offset((page - 1) * PAGE_SIZE)
            )
        )
        session.expunge_all()  # read after the read-only transaction is undone
    return render_console(
        "console_changesets.html",
        title=t("console.changeset.title.list"),
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        state=state,
        states=[s.value for s in ChangeSetState],
    )


@bp.get("/changesets/template.csv")
def changeset_template() -> Response:
    admin = _require()
    if isinstance(admin, Response):
        return admin
    return FlaskResponse(
        "\ufeff" + form.template_csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="phuong-an-mau.csv"'},
    )


def _form_page(values: dict[str, str], problems: list[str], status: int = 200) -> Response:
    return render_console(
        "console_changeset_new.html",
        status,
        title=t("console.changeset.title.new"),
        values=values,
        errors=problems,
        columns=form.COLUMNS,
        rows=form.FORM_ROWS,
        ops=form.OP_NAMES_VI,
        unit_types=[
            "commune_committee",
            "district_committee",
            "province_committee",
            "department",
            "department_division",
            "public_service_unit",
            "other",
        ],
    )


@bp.get("/changesets/new")
def changeset_new() -> Response:
    admin = _require()
    if isinstance(admin, Response):
        return admin
    return _form_page({}, [])


@bp.post("/changesets/new")
def changeset_create() -> Response:
    admin = _require()
    if isinstance(admin, Response):
        return admin
    require_form()
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    upload = request.files.get("file")
    try:
        if upload is not None and upload.filename:
            rows = form.rows_from_csv(upload.read(form.MAX_UPLOAD + 1))
        else:
            rows = form.rows_from_form(request.form)
        data = form.body(values, rows)
    except form.FormProblem as exc:
        return _form_page(values, [_problem_line(p) for p in exc.problems], 422)
    try:
        with get_db().transaction() as session:
            ctx = admin.hr_context(session, None, *SCOPES)
            created = changesets.create_change_set(ctx, data)
            created_id = created.id
    except DomainError as exc:
        return _form_page(values, [error_text(exc, "console.changeset")], exc.status)
    return redirect(url_for("console.changeset_page", change_set_id=created_id), 303)


def _check(change_set: ChangeSet) -> dict[str, Any]:
    with get_db().reading() as session:
        effect = changesets.check(session, changesets.get_change_set(session, change_set.id))
        return {
            "ok": effect.ok,
            "problems": [changesets.problem_json(p) for p in effect.problems],
            "units": {
                "created": len(effect.new_units),
                "retired": len(effect.retired),
                "moved": len(effect.parents),
                "renamed": len(effect.renames),
            },
            "people": len(effect.people),
        }


def _detail(admin: Admin, change_set: ChangeSet, status: int = 200, **extra: Any) -> Response:
    return render_console(
        "console_changeset.html",
        status,
        title=t("console.changeset.title.one", title=change_set.title),
        cs=change_set,
        province=_scope(admin).everywhere,
        ops=form.OP_NAMES_VI,
        **extra,
    )


@bp.get("/changesets/<uuid:change_set_id>")
def changeset_page(change_set_id: uuid.UUID) -> Response:
    admin = _require()
    if isinstance(admin, Response):
        return admin
    change_set = _load(admin, change_set_id)
    checked = _check(change_set) if request.args.get("check") else None
    notice = (
        t("console.changeset.notice." + request.args["done"])
        if request.args.get("done") in _ACTIONS
        else None
    )
    return _detail(admin, change_set, checked=checked, notice=notice)


@bp.post("/changesets/<uuid:change_set_id>/<any(apply, schedule, cancel):action>")
def changeset_action(change_set_id: uuid.UUID, action: str) -> Response:
    admin = _require()
    if isinstance(admin, Response):
        return admin
    require_form()
    change_set = _load(admin, change_set_id)
    try:
        with get_db().transaction() as session:
            found = changesets.get_change_set(session, change_set_id)
            _ACTIONS[action](admin.hr_context(session, found.reason, *SCOPES), found)
    except DomainError as exc:
        problems = []
        if isinstance(exc.details, dict):
            problems = [p.get("message", "") for p in exc.details.get("problems", [])]
        return _detail(
            admin,
            change_set,
            exc.status,
            error=error_text(exc, "console.changeset"),
            problems=problems,
        )
    if action == "apply":
        return redirect(url_for("console.changeset_progress", change_set_id=change_set_id), 303)
    return redirect(
        url_for("console.changeset_page", change_set_id=change_set_id, done=action), 303
    )


def _matches(row: dict[str, Any], unit: str, name: str) -> bool:
    if unit:
        needle = f"ou={unit.casefold()},"
        dns = ((row.get("old_dn") or "") + "|" + (row.get("new_dn") or "") + ",").casefold()
        if needle not in dns:
            return False
    if name:
        text = search_key(f"{row.get('full_name') or ''} {row.get('username') or ''}")
        if search_key(name) not in text:
            return False
    return True


@bp.get("/changesets/<uuid:change_set_id>/preview")
def changeset_preview(change_set_id: uuid.UUID) -> Response:
    admin = _require()
    if isinstance(admin, Response):
        return admin
    change_set = _load(admin, change_set_id)
    hub = current_hub()
    connector = hub.connectors.directory()
    try:
        result = preview(
            hub.db, connector, hub.rules, change_set_id, base_dn=hub.connectors.base_dn
        )
    except DomainError as exc:
        return _detail(admin, change_set, exc.status, error=error_text(exc, "console.changeset"))
    finally:
        connector.close()
    unit = request.args.get("unit", "").strip()
    name = request.args.get("q", "").strip()
    rows = [r for r in result.get("rows", []) if _matches(r, unit, name)]
    if request.args.get("format") != "csv" and len(rows) > PREVIEW_ROWS:
        shown, notice = (
            rows[:PREVIEW_ROWS],
            t("console.changeset.preview.capped", shown=PREVIEW_ROWS, total=len(rows)),
        )
    else:
        shown, notice = rows, None
    if request.args.get("format") == "csv":
        filename = f"phuong-an-{change_set_id}-xem-truoc.csv"
        return FlaskResponse(
            "\ufeff" + to_csv({"rows": rows}),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return render_console(
        "console_changeset_preview.html",
        title=t("console.changeset.title.preview", title=change_set.title),
        cs=change_set,
        result=result,
        rows=shown,
        notice=notice,
        unit=unit,
        q=name,
    )


@bp.get("/changesets/<uuid:change_set_id>/progress")
def changeset_progress(change_set_id: uuid.UUID) -> Response:
    admin = _require()
    if isinstance(admin, Response):
        return admin
    change_set = _load(admin, change_set_id)
    with get_db().reading() as session:
        progress = changesets.progress(session, changesets.get_change_set(session, change_set_id))
    running = change_set.state == ChangeSetState.APPLIED and (
        progress["pending"] > 0 or progress["held"] > 0
    )
    return render_console(
        "console_changeset_progress.html",
        title=t("console.changeset.title.progress", title=change_set.title),
        cs=change_set,
        progress=progress,
        running=running,
    )
