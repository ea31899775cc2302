"""The audit trail at the console: search (person, actor, action, object, local dates),
an event with its before → after, the chain's verification, exports (CSV, JSON lines).

Scoped as GET /api/v1/audit: `audit:read` (or `admin`) over one's subtree reaches the
events about its people, units, posts, seats, grants and change sets; verifying the
whole chain is the province's.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

from flask import Response as FlaskResponse
from flask import abort, request, stream_with_context
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.admin_scope import visible
from idhub.changes.chain import is_mark
from idhub.console.changesets import error_text
from idhub.console.frame import (
    LOCAL_TZ,
    PAGE_SIZE,
    Admin,
    bp,
    local,
    page_number,
    parse_uuid,
    render_console,
    require,
    require_form,
    section,
)
from idhub.db import get_db
from idhub.errors import DomainError
from idhub.models import AuditEvent, Person
from idhub.oidc.i18n import t
from idhub.services import current_hub

SCOPES = ("audit:read", "admin")
FILTERS = ("person", "actor", "action", "object", "since", "until")
EXPORT_LIMIT = 100_000
CSV_COLUMNS = (
    "id",
    "at",
    "at_local",
    "actor_type",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "reason",
    "request_id",
    "source_ip",
    "before",
    "after",
)
# Spreadsheets run a cell starting with one of these as a formula (OWASP: CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

section("console.audit_search", "console.audit.title.search", SCOPES)


def safe_cell(value: Any) -> str:
    """One CSV cell, never a formula: a leading = + - @ (or tab, CR) is quoted with '."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def local_day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


def utc_start(day: dt.date) -> dt.datetime:
    """Midnight of a local (Asia/Ho_Chi_Minh) day, in UTC."""
    return dt.datetime.combine(day, dt.time(), LOCAL_TZ).astimezone(dt.UTC)


def _person_ref(session: Session, text: str) -> str | None:
    """A person's id from an id or a username (the text itself for anything else: a
    client id as the actor)."""
    found = parse_uuid(text)
    if found is not None:
        return str(found)
    person = session.scalar(select(Person.id).where(Person.username == text.strip().lower()))
    return str(person) if person else None


def _query(session: Session, admin: Admin, args: Any) -> tuple[Select, list[str]]:
    """The filtered, scoped query, and what is wrong with the filters (shown, not run)."""
    problems: list[str] = []
    query = select(AuditEvent)
    person = args.get("person", "").strip()
    if person:
        ref = _person_ref(session, person)
        query = query.where(AuditEvent.object_id == (ref or "-"))
    actor = args.get("actor", "").strip()
    if actor:
        query = query.where(AuditEvent.actor_id == (_person_ref(session, actor) or actor))
    action = args.get("action", "").strip()
    if action:
        if action.endswith("."):  # a family: "person." finds person.create, person.update…
            query = query.where(AuditEvent.action.startswith(action, autoescape=True))
        else:
            query = query.where(AuditEvent.action == action)
    obj = args.get("object", "").strip()
    if obj:
        query = query.where(AuditEvent.object_id == obj)
    since, until = (args.get(k, "").strip() for k in ("since", "until"))
    first = local_day(since) if since else None
    last = local_day(until) if until else None
    if since and first is None:
        problems.append(t("console.audit.error.date", field=t("console.audit.field.since")))
    if until and last is None:
        problems.append(t("console.audit.error.date", field=t("console.audit.field.until")))
    if first and last and last < first:
        problems.append(t("console.audit.error.range"))
    if first:
        query = query.where(AuditEvent.at >= utc_start(first))
    if last:  # the whole last day, local time
        query = query.where(AuditEvent.at < utc_start(last + dt.timedelta(days=1)))
    return visible.audit_events(query, session, admin.scope(*SCOPES)), problems


@bp.get("/audit")
def audit_search() -> Response:
    admin = require(*SCOPES)
    if isinstance(admin, Response):
        return admin
    page = page_number()
    filters = {k: request.args.get(k, "") for k in FILTERS}
    with get_db().reading() as session:
        query, problems = _query(session, admin, request.args)
        if problems:
            rows, total = [], 0
        else:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = list(
                session.scalars(
                    query.order_by(AuditEvent.id.desc())
                    .limit(PAGE_SIZE)
                    .offset((page - 1) * PAGE_SIZE)
                )
            )
            session.expunge_all()
    return render_console(
        "console_audit.html",
        422 if problems else 200,
        title=t("console.audit.title.search"),
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        filters=filters,
        errors=problems,
        province=admin.scope(*SCOPES).everywhere,
    )


def diff(before: dict | None, after: dict | None) -> list[dict[str, Any]]:
    """Every field of either side: its value before and after, and whether it changed."""
    before, after = before or {}, after or {}
    return [
        {
            "field": key,
            "before": before.get(key),
            "after": after.get(key),
            "changed": before.get(key) != after.get(key),
        }
        for key in sorted(set(before) | set(after))
    ]


@bp.get("/audit/<int:event_id>")
def audit_event(event_id: int) -> Response:
    admin = require(*SCOPES)
    if isinstance(admin, Response):
        return admin
    with get_db().reading() as session:
        query = select(AuditEvent).where(AuditEvent.id == event_id)
        event = session.scalar(visible.audit_events(query, session, admin.scope(*SCOPES)))
        if event is None:
            abort(404)
        session.expunge(event)
    return render_console(
        "console_audit_event.html",
        title=t("console.audit.title.event", id=event_id),
        event=event,
        rows=diff(event.before, event.after),
        show=_show,
    )


def _show(value: Any, row: dict[str, Any] | None = None) -> str:
    if value is None:
        return "—"
    if is_mark(value):  # a sealed value's mark (idhub/changes/chain.py): never the value
        row = row or {}
        changed = is_mark(row.get("before")) and is_mark(row.get("after")) and row["changed"]
        return t("console.audit.sealed.changed" if changed else "console.audit.sealed")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


@bp.post("/audit/verify")
def audit_verify() -> Response:
    admin = require(*SCOPES)
    if isinstance(admin, Response):
        return admin
    require_form()
    try:
        admin.scope(*SCOPES).require_everywhere("verify the whole audit chain / kiểm tra chuỗi")
    except DomainError as exc:
        return render_console(
            "console_audit_verify.html",
            exc.status,
            title=t("console.audit.title.verify"),
            result=None,
            error=error_text(exc, "console.audit"),
        )
    with get_db().reading() as session:
        result = current_hub().audit.verify_session(session)
    return render_console(
        "console_audit_verify.html", title=t("console.audit.title.verify"), result=result
    )


def _events(admin: Admin, args: Any) -> Iterator[AuditEvent]:
    with get_db().reading() as session:
        query, problems = _query(session, admin, args)
        if problems:
            return
        ordered = query.order_by(AuditEvent.id).limit(EXPORT_LIMIT)
        yield from session.scalars(ordered.execution_options(yield_per=1000))


def _record(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "at": event.at.astimezone(dt.UTC).isoformat() if event.at.tzinfo else event.at.isoformat(),
        "at_local": local(event.at, "%Y-%m-%d %H:%M:%S"),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "reason": event.reason,
        "request_id": event.request_id,
        "source_ip": event.source_ip,
        "before": event.before,
        "after": event.after,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


@bp.get("/audit/export.<any(csv, jsonl):fmt>")
def audit_export(fmt: str) -> Response:
    admin = require(*SCOPES)
    if isinstance(admin, Response):
        return admin
    admin.scope(*SCOPES)  # worked out now, inside the request, not while streaming
    args = request.args.copy()
    stamp = dt.datetime.now(LOCAL_TZ).strftime("%Y%m%d-%H%M")

    def csv_lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        yield "\ufeff" + out.getvalue()
        for event in _events(admin, args):
            out.seek(0)
            out.truncate()
            record = _record(event)
            writer.writerow([safe_cell(record[c]) for c in CSV_COLUMNS])
            yield out.getvalue()

    def json_lines() -> Iterator[str]:
        for event in _events(admin, args):
            yield json.dumps(_record(event), ensure_ascii=False, sort_keys=True) + "\n"

    if fmt == "csv":
        body, mimetype = csv_lines(), "text/csv"
    else:
        body, mimetype = json_lines(), "application/x-ndjson"
    return FlaskResponse(
        stream_with_context(body),
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="nhat-ky-{stamp}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )
