"""/account/app-rights: my roles in the apps, and ủy quyền of them to a deputy.

The person sees their application roles per app (and per unit, for the roles bound to a
unit), the delegations they gave and received (running or to come), gives their roles
in one app — all, or chosen ones; for one unit or all — to a deputy chosen by username
for a date range with a reason, and revokes one (either side may). The rules are
identity/app_delegations.py's, audited there; the deputy's claims follow the dates.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from types import SimpleNamespace
from typing import Any

from flask import redirect, request
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.account.pages import SECTIONS, Section, bp, render_section, require_person
from idhub.changes.context import HrContext
from idhub.db import get_db
from idhub.errors import Invalid, NotFound
from idhub.identity import app_delegations
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.models import Person
from idhub.oidc.i18n import t
from idhub.oidc.pages.common import actor, check_csrf, error_page
from idhub.oidc.storage import writing
from idhub.services import current_hub
from provisioning.app_roles import known_apps as gated_apps
from provisioning.app_roles import roles_for_app
from provisioning.policy import desired_account

FIELDS = ("deputy", "app", "roles", "start_date", "end_date", "reason")


def _my_roles(session: Session, person: Person, today: dt.date) -> dict[str, Any]:
    """App → (roles everywhere, [(unit, role)]) the person holds today."""
    hub = current_hub()
    if not person.username:
        return {}
    snapshot = person_snapshots(session, [person], UnitDirectory.load(session), today)[person.id]
    desired = desired_account(snapshot, hub.rules, base_dn=hub.connectors.base_dn)
    found = {}
    for app in sorted(gated_apps(hub.rules)):
        held = roles_for_app(desired, app)
        if not held.is_empty():
            found[app] = held
    return found


def _rows(session: Session, person: Person, today: dt.date) -> tuple[list, list]:
    given: list[SimpleNamespace] = []
    received: list[SimpleNamespace] = []
    for row in app_delegations.of_person(session, person.id, today):
        mine = row.delegator_id == person.id
        other = session.get(Person, row.deputy_id if mine else row.delegator_id)
        item = SimpleNamespace(
            id=row.id,
            who=f"{other.full_name} ({other.username})" if other is not None else "?",
            app=row.app,
            roles=", ".join(row.roles) or t("account.app_rights.text.all_roles"),
            unit=row.unit_code or t("account.app_rights.text.all_units"),
            start=row.start_date.strftime("%d/%m/%Y"),
            end=row.end_date.strftime("%d/%m/%Y"),
            active=row.active_on(today),
            reason=row.reason,
        )
        (given if mine else received).append(item)
    return given, received


def _page(person_id: uuid.UUID, status: int = 200, **context: Any) -> Response:
    today = dt.date.today()
    session = get_db().session(write=False)
    try:
        person = session.get(Person, person_id)
        assert person is not None
        held = _my_roles(session, person, today)
        given, received = _rows(session, person, today)
    finally:
        session.close()
    units = sorted({u for h in held.values() for u, _ in h.by_unit})
    roles = sorted({r for h in held.values() for r in (*h.everywhere, *(r for _, r in h.by_unit))})
    return render_section(
        "account_app_rights.html",
        status,
        title=t("account.title.app_rights"),
        held=held,
        given=given,
        received=received,
        units=units,
        roles=roles,
        today=today.isoformat(),
        form=context.pop("form", {}),
        **context,
    )


@bp.get("/app-rights")
def app_rights() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    return _page(who.person.id)


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


@bp.post("/app-rights")
def create_app_delegation() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    form = {k: unicodedata.normalize("NFC", request.form.get(k, "")).strip() for k in FIELDS}
    form["unit_code"] = request.form.get("unit_code", "").strip()
    data = {
        "deputy": form["deputy"],
        "app": form["app"],
        "roles": request.form.getlist("roles"),
        "unit_code": form["unit_code"] or None,
        "start_date": _date(form["start_date"]),
        "end_date": _date(form["end_date"]),
        "reason": form["reason"],
    }
    hub = current_hub()
    try:
        with writing() as session:
            ctx = HrContext(session, hub.audit, actor(who.person.id))
            app_delegations.create(ctx, who.person.id, data, known_apps=gated_apps(hub.rules))
    except Invalid as exc:
        fields = sorted((exc.details or {}).keys())
        errors = [t(f"account.app_rights.error.{f}") for f in fields if f in FIELDS]
        return _page(who.person.id, 400, errors=errors or [t("account.app_rights.error.invalid")],
                     form=form)  # fmt: skip
    except NotFound:
        return _page(who.person.id, 400, errors=[t("account.app_rights.error.invalid")], form=form)
    return redirect("/account/app-rights", 303)


@bp.post("/app-rights/<uuid:delegation_id>/revoke")
def revoke_app_delegation(delegation_id: uuid.UUID) -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    try:
        with writing() as session:
            ctx = HrContext(session, current_hub().audit, actor(who.person.id))
            app_delegations.revoke(ctx, delegation_id, person_id=who.person.id)
    except NotFound:
        return _page(who.person.id, 404, errors=[t("account.app_rights.error.not_found")])
    return redirect("/account/app-rights", 303)


SECTIONS.append(Section("account.app_rights", "account.nav.app_rights"))
