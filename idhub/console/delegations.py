"""Mail delegations at the console (ủy quyền hộp thư): those of people in one's scope,
running and coming; letting a deputy into someone's mailbox for a period; ending one.

The same service as /api/v1/people/{id}/mail-delegations (`idhub/identity/delegations.py`):
reading needs an HR scope, writing `hr:write` or `admin`, both narrowed to one's subtree
(owner and deputy in it; others' delegations 404). No preview: the API has none.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from flask import abort, redirect, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import aliased
from werkzeug.wrappers import Response

from idhub.admin_scope import visible
from idhub.console.changesets import error_text
from idhub.console.frame import (
    Admin,
    bp,
    form_values,
    render_console,
    require,
    require_form,
    section,
)
from idhub.db import get_db
from idhub.errors import DomainError, Invalid
from idhub.identity import delegations
from idhub.models import MailDelegation, Person
from idhub.oidc.i18n import t

READ = ("hr:read", "hr:write", "admin")
WRITE = ("hr:write", "admin")
LIMIT = 500
FIELDS = ("owner", "deputy", "start_date", "end_date", "reason")

section("console.delegations_list", "console.delegations.title.list", READ)


def _page(admin: Admin, status: int = 200, **extra: Any) -> Response:
    show_all = request.args.get("all") == "1"
    owner, deputy = aliased(Person), aliased(Person)
    with get_db().reading() as session:
        query = (
            select(MailDelegation, owner, deputy)
            .join(owner, owner.id == MailDelegation.owner_id)
            .join(deputy, deputy.id == MailDelegation.deputy_id)
        )
        if not show_all:
            query = query.where(MailDelegation.end_date >= dt.date.today())
        query = visible.people(query, session, admin.scope(*READ), MailDelegation.owner_id)
        rows = session.execute(
            query.order_by(MailDelegation.end_date, MailDelegation.id).limit(LIMIT)
        ).all()
        session.expunge_all()
    return render_console(
        "console_delegations.html",
        status,
        title=t("console.delegations.title.list"),
        rows=rows,
        show_all=show_all,
        may_write=admin.may(*WRITE),
        today=dt.date.today(),
        form=extra.pop("form", {}),
        field_errors=extra.pop("field_errors", []),
        **extra,
    )


@bp.get("/delegations")
def delegations_list() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    done = request.args.get("done", "")
    notice = t(f"console.delegations.notice.{done}") if done in ("created", "ended") else None
    return _page(admin, notice=notice)


def _date(text: str, name: str, problems: dict[str, list[str]]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        problems[name] = [text]
        return None


def _person(session: Any, admin: Admin, username: str) -> Person | None:
    """A person in one's write scope by username (outside it: as if absent)."""
    found = session.scalar(select(Person).where(Person.username == username.lower()))
    if found is None or not visible.has_person(session, admin.scope(*WRITE), found.id):
        return None
    return found


@bp.post("/delegations")
def delegations_create() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    require_form()
    form, bad = form_values(FIELDS)
    if not admin.may(*WRITE):
        return _page(admin, 403, error=t("console.delegations.write_required"), form=form)
    try:
        with get_db().transaction() as session:
            problems: dict[str, list[str]] = {name: [form[name]] for name in bad}
            owner = _person(session, admin, form["owner"])
            deputy = _person(session, admin, form["deputy"])
            if owner is None:
                problems["owner"] = [form["owner"]]
            if deputy is None:
                problems["deputy"] = [form["deputy"]]
            start = _date(form["start_date"], "start_date", problems)
            end = _date(form["end_date"], "end_date", problems)
            if problems:
                raise Invalid("The delegation is not valid.", details=problems)
            assert owner is not None and deputy is not None
            ctx = admin.hr_context(session, form["reason"] or None, *WRITE)
            data = {
                "deputy_id": deputy.id,
                "start_date": start,
                "end_date": end,
                "reason": form["reason"] or None,
            }
            delegations.create_delegation(ctx, owner.id, data)
    except DomainError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        named = {"deputy_id": "deputy"}
        return _page(
            admin,
            exc.status,
            error=error_text(exc, "console.delegations"),
            form=form,
            field_errors=sorted(named.get(str(k), str(k)) for k in details),
        )
    return redirect(url_for("console.delegations_list", done="created"), 303)


@bp.post("/delegations/<delegation_id>/end")
def delegation_end(delegation_id: str) -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    require_form()
    try:
        found = uuid.UUID(delegation_id)
    except ValueError:
        abort(404)
    if not admin.may(*WRITE):
        return _page(admin, 403, error=t("console.delegations.write_required"))
    problems: dict[str, list[str]] = {}
    end = _date(request.form.get("end_date", ""), "end_date", problems)
    if request.form.get("confirm") != "yes":
        return _page(admin, 422, error=t("console.delegations.confirm_required"))
    try:
        with get_db().transaction() as session:
            row = session.get(MailDelegation, found)
            if row is None:
                abort(404)
            try:
                visible.require_delegation(session, admin.scope(*WRITE), found)
            except DomainError:
                abort(404)
            if end is None:
                raise Invalid("The delegation is not valid.", details=problems)
            delegations.end_delegation(
                admin.hr_context(session, None, *WRITE), row.owner_id, found, end
            )
    except DomainError as exc:
        return _page(admin, exc.status, error=error_text(exc, "console.delegations"))
    return redirect(url_for("console.delegations_list", done="ended"), 303)
