"""Apps and API clients at the console: the clients one manages, registering one (its
secret shown once, on the answer to the form), an app's page, rotating its secret,
disabling and enabling it.

The same service as /api/v1/clients (`idhub/oidc/client_admin.py`): a province
administrator manages every client; an app owner (`apps`) their own; nobody gives a
client more than they hold (scopes, and an API client's subtree).
"""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, request, url_for
from sqlalchemy import func, select
from werkzeug.wrappers import Response

from idhub.console.changesets import error_text
from idhub.console.frame import (
    Admin,
    bp,
    render_console,
    require,
    require_form,
    section,
)
from idhub.db import get_db
from idhub.errors import DomainError, Invalid
from idhub.identity.units import unit_by_code
from idhub.models import OAuthClient, OrgUnit, Person
from idhub.oidc import client_admin
from idhub.oidc.client_admin import Manager
from idhub.oidc.i18n import t
from idhub.oidc.server import supported_scopes
from idhub.oidc.state import oidc_state
from idhub.services import current_hub

APPS = ("apps", "admin")
PAGE_LIMIT = 500
FIELDS = (
    "kind",
    "name",
    "client_type",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "client_uri",
    "subtree",
)
# The service's detail keys, as the form's field names.
_DETAIL_FIELDS = {
    "redirect_uri": "redirect_uris",
    "post_logout_redirect_uri": "post_logout_redirect_uris",
    "scope": "scopes",
    "grant": "kind",
    "subtree_unit_id": "subtree",
}

section("console.apps_list", "console.apps.title.list", APPS)


def manager(admin: Admin) -> Manager:
    """The person at the console as a manager of clients (as their token would be)."""
    return Manager(
        admin.actor(),
        everywhere=admin.may("admin") and admin.scope("admin").everywhere,
        owner=admin.person.id,
        held=frozenset(admin.scopes),
        reach=lambda scopes: admin.scope(*scopes),
    )


def _allowed() -> list[str]:
    return supported_scopes(current_hub().settings)


def _names(session: Any, rows: list[OAuthClient]) -> tuple[dict, dict]:
    owners = {r.owner_person_id for r in rows if r.owner_person_id}
    units = {r.subtree_unit_id for r in rows if r.subtree_unit_id}
    people = {
        p.id: f"{p.full_name} ({p.username})"
        for p in session.scalars(select(Person).where(Person.id.in_(owners)))
    }
    codes = dict(
        session.execute(select(OrgUnit.id, OrgUnit.code).where(OrgUnit.id.in_(units))).all()
    )
    return people, codes


@bp.get("/apps")
def apps_list() -> Response:
    admin = require(*APPS)
    if isinstance(admin, Response):
        return admin
    with get_db().reading() as session:
        query = client_admin.visible(
            select(OAuthClient).order_by(OAuthClient.created_at.desc(), OAuthClient.client_id),
            manager(admin),
        )
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(session.scalars(query.limit(PAGE_LIMIT)))
        people, codes = _names(session, rows)
        session.expunge_all()
    return render_console(
        "console_apps.html",
        title=t("console.apps.title.list"),
        rows=rows,
        total=total,
        people=people,
        codes=codes,
        sign_on=client_admin.is_sign_on,
    )


def _form_page(admin: Admin, form: dict[str, Any], status: int = 200, **extra: Any) -> Response:
    return render_console(
        "console_app_new.html",
        status,
        title=t("console.apps.title.new"),
        form=form,
        scopes=_allowed(),
        everywhere=manager(admin).everywhere,
        field_errors=extra.pop("field_errors", {}),
        **extra,
    )


@bp.get("/apps/new")
def app_new() -> Response:
    admin = require(*APPS)
    if isinstance(admin, Response):
        return admin
    form = {"kind": "app", "client_type": "confidential", "scopes": ["openid", "profile"]}
    return _form_page(admin, form)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _read_form() -> dict[str, Any]:
    form: dict[str, Any] = {name: request.form.get(name, "").strip() for name in FIELDS}
    form["scopes"] = request.form.getlist("scopes")
    return form


def _data(session: Any, form: dict[str, Any]) -> dict[str, Any]:
    """The form as the service's input (the API's body)."""
    subtree = None
    if form["subtree"]:
        try:
            subtree = unit_by_code(session, form["subtree"]).id
        except DomainError as exc:
            raise Invalid(exc.message, details={"subtree_unit_id": [form["subtree"]]}) from exc
    return {
        "kind": form["kind"] or "app",
        "name": form["name"],
        "client_type": form["client_type"] or "confidential",
        "scopes": form["scopes"],
        "redirect_uris": _lines(form["redirect_uris"]),
        "post_logout_redirect_uris": _lines(form["post_logout_redirect_uris"]),
        "backchannel_logout_uri": form["backchannel_logout_uri"] or None,
        "client_uri": form["client_uri"] or None,
        "subtree_unit_id": subtree,
    }


def _field_errors(exc: DomainError) -> dict[str, str]:
    details = exc.details if isinstance(exc.details, dict) else {}
    found: dict[str, str] = {}
    for key, values in details.items():
        name = _DETAIL_FIELDS.get(str(key), str(key))
        listed = values if isinstance(values, list) else [values]
        found[name] = ", ".join(str(v) for v in listed)
    if exc.code in ("client_exceeds_own",):
        found.setdefault("scopes", "")
    return found


@bp.post("/apps/new")
def app_create() -> Response:
    admin = require(*APPS)
    if isinstance(admin, Response):
        return admin
    require_form()
    form = _read_form()
    hub = current_hub()
    try:
        with get_db().transaction() as session:
            new = client_admin.register(
                session, hub.keyring, hub.audit, manager(admin), _data(session, form), _allowed()
            )
    except DomainError as exc:
        return _form_page(
            admin,
            form,
            exc.status if exc.status in (403, 409) else 422,
            error=error_text(exc, "console.apps"),
            field_errors=_field_errors(exc),
        )
    return _secret_page(new.client_id, new.client_secret, created=True)


def _secret_page(client_id: str, secret: str, *, created: bool) -> Response:
    """The one page that ever shows this secret: not cached, not reachable again."""
    response = render_console(
        "console_app_secret.html",
        201 if created else 200,
        title=t("console.apps.title.secret"),
        client_id=client_id,
        secret=secret,
        created=created,
        issuer=oidc_state().issuer,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _managed(admin: Admin, session: Any, client_id: str) -> OAuthClient:
    try:
        return client_admin.get_managed(session, manager(admin), client_id)
    except DomainError:
        abort(404)


def _app_page(admin: Admin, client_id: str, status: int = 200, **extra: Any) -> Response:
    with get_db().reading() as session:
        row = _managed(admin, session, client_id)
        usage = client_admin.usage(session, client_id)
        people, codes = _names(session, [row])
        session.expunge_all()
    return render_console(
        "console_app.html",
        status,
        title=row.name,
        row=row,
        usage=usage,
        owner=people.get(row.owner_person_id),
        subtree=codes.get(row.subtree_unit_id),
        sign_on=client_admin.is_sign_on(row),
        **extra,
    )


@bp.get("/apps/<client_id>")
def app_page(client_id: str) -> Response:
    admin = require(*APPS)
    if isinstance(admin, Response):
        return admin
    done = request.args.get("done", "")
    shown = ("disabled", "enabled", "updated")
    notice = t(f"console.apps.notice.{done}") if done in shown else None
    return _app_page(admin, client_id, notice=notice)


def _confirmed(admin: Admin, client_id: str) -> Response | None:
    if request.form.get("confirm") != "yes":
        return _app_page(admin, client_id, 422, error=t("console.apps.confirm_required"))
    return None


@bp.post("/apps/<client_id>/rotate")
def app_rotate(client_id: str) -> Response:
    admin = require(*APPS)
    if isinstance(admin, Response):
        return admin
    require_form()
    refused = _confirmed(admin, client_id)
    if refused is not None:
        return refused
    hub = current_hub()
    try:
        with get_db().transaction() as session:
            row = _managed(admin, session, client_id)
            new = client_admin.rotate_secret(session, hub.keyring, hub.audit, manager(admin), row)
    except DomainError as exc:
        return _app_page(admin, client_id, exc.status, error=error_text(exc, "console.apps"))
    return _secret_page(new.client_id, new.client_secret, created=False)


def _set_disabled(client_id: str, disabled: bool) -> Response:
    admin = require(*APPS)
    if isinstance(admin, Response):
        return admin
    require_form()
    refused = _confirmed(admin, client_id)
    if refused is not None:
        return refused
    with get_db().transaction() as session:
        row = _managed(admin, session, client_id)
        client_admin.set_disabled(session, current_hub().audit, manager(admin), row, disabled)
    done = "disabled" if disabled else "enabled"
    return redirect(url_for("console.app_page", client_id=client_id, done=done), 303)


@bp.post("/apps/<client_id>/disable")
def app_disable(client_id: str) -> Response:
    return _set_disabled(client_id, True)


@bp.post("/apps/<client_id>/enable")
def app_enable(client_id: str) -> Response:
    return _set_disabled(client_id, False)


# -- changing an app: name, URIs, scopes (as PATCH /api/v1/clients/{id}) ----------------------
EDITABLE = (
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "client_uri",
)


def _edit_page(
    admin: Admin, row: OAuthClient, form: dict[str, Any], status: int = 200, **extra: Any
) -> Response:
    return render_console(
        "console_app_edit.html",
        status,
        title=row.name,
        row=row,
        form=form,
        scopes=_allowed(),
        sign_on=client_admin.is_sign_on(row),
        field_errors=extra.pop("field_errors", {}),
        **extra,
    )


@bp.get("/apps/<client_id>/edit")
def app_edit(client_id: str) -> Response:
    admin = require(*APPS)
    if isinstance(admin, Response):
        return admin
    with get_db().reading() as session:
        row = _managed(admin, session, client_id)
        session.expunge(row)
    form = {
        "name": row.name,
        "redirect_uris": "\n".join(row.redirect_uris or []),
        "post_logout_redirect_uris": "\n".join(row.post_logout_redirect_uris or []),
        "backchannel_logout_uri": row.backchannel_logout_uri or "",
        "client_uri": row.client_uri or "",
        "scopes": row.scope.split(),
    }
    return _edit_page(admin, row, form)


@bp.post("/apps/<client_id>/edit")
def app_update(client_id: str) -> Response:
    admin = require(*APPS)
    if isinstance(admin, Response):
        return admin
    require_form()
    form: dict[str, Any] = {name: request.form.get(name, "").strip() for name in EDITABLE}
    form["scopes"] = request.form.getlist("scopes")
    data = {
        "name": form["name"],
        "redirect_uris": _lines(form["redirect_uris"]),
        "post_logout_redirect_uris": _lines(form["post_logout_redirect_uris"]),
        "backchannel_logout_uri": form["backchannel_logout_uri"] or None,
        "client_uri": form["client_uri"] or None,
        "scopes": form["scopes"],
    }
    try:
        with get_db().transaction() as session:
            row = _managed(admin, session, client_id)
            client_admin.update(session, current_hub().audit, manager(admin), row, data, _allowed())
    except DomainError as exc:
        with get_db().reading() as session:
            row = _managed(admin, session, client_id)
            session.expunge(row)
        return _edit_page(
            admin,
            row,
            form,
            exc.status if exc.status in (403, 409) else 422,
            error=error_text(exc, "console.apps"),
            field_errors=_field_errors(exc),
        )
    return redirect(url_for("console.app_page", client_id=client_id, done="updated"), 303)
