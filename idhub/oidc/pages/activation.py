"""Action links (/sso/activate/<token>): a new person's activation and a password reset.
The person sets a password and enrols TOTP, then sees their recovery codes once."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask import session as flow
from werkzeug.wrappers import Response

from idhub.db import get_db
from idhub.errors import Invalid
from idhub.models import Person, utcnow
from idhub.oidc import totp
from idhub.oidc.credentials import set_credentials, valid_action_token
from idhub.oidc.i18n import t
from idhub.oidc.logout import end_access
from idhub.oidc.pages.common import (
    actor,
    bp,
    check_csrf,
    error_page,
    logout_settings,
    render_page,
    sso_settings,
)
from idhub.oidc.passwords import write_directory_password
from idhub.services import current_hub


@bp.route("/sso/activate/<token>", methods=["GET", "POST"])
def activate(token: str) -> Response:
    hub = current_hub()
    keyring, audit, sso = hub.keyring, hub.audit, sso_settings()
    db = get_db()
    session = db.session(write=False)
    try:
        link = valid_action_token(session, keyring, token)
        person = session.get(Person, link.person_id) if link else None
        if person is not None:
            session.expunge(person)
    finally:
        session.close()
    if link is None or person is None:
        return error_page("error.link", 404)
    title = t("title.activate" if link.purpose == "activate" else "title.reset")
    enrol = flow.get("enrol")
    if not enrol or enrol.get("link") != link.id:
        enrol = {"link": link.id, "secret": keyring.encrypt(totp.new_secret())}
        flow["enrol"] = enrol
    secret = keyring.decrypt(enrol["secret"])
    uri = totp.provisioning_uri(secret, person.username or str(person.id), sso.totp_issuer)
    context: dict[str, Any] = dict(
        title=title,
        person=person,
        secret=secret,
        qr=totp.qr_svg(uri),
        min_length=sso.password_min_length,
    )
    if request.method == "GET":
        return render_page("sso_activate.html", **context)
    if not check_csrf():
        return error_page("error.csrf")
    password = request.form.get("password", "")[:1024]
    if password != request.form.get("password2", "")[:1024]:
        return render_page(
            "sso_activate.html", 400, errors=[t("error.password_mismatch")], **context
        )
    try:
        with db.transaction() as session:
            row = valid_action_token(session, keyring, token)
            live = session.get(Person, person.id)
            if row is None or live is None:
                raise Invalid("link used")
            phc, codes = set_credentials(
                session,
                keyring,
                audit,
                sso,
                actor(person.id),
                live,
                password=password,
                totp_secret=secret,
                totp_code=request.form.get("code", "")[:16],
            )
            row.used_at = utcnow()
    except Invalid as exc:
        problems = (exc.details or {}).get("password", []) + (
            ["code"] if "code" in (exc.details or {}) else []
        )
        if not problems:
            return error_page("error.link", 404)
        messages = [
            t("error.code_failed") if p == "code" else t(f"error.{p}", n=context["min_length"])
            for p in problems
        ]
        return render_page("sso_activate.html", 400, errors=messages, **context)
    flow.pop("enrol", None)
    if link.purpose == "reset":  # a reset ends every session the old password opened
        end_access(
            db,
            audit,
            keyring,
            logout_settings(),
            actor(person.id),
            [person.id],
            reason="password reset",
        )
    connector = hub.connectors.directory()
    try:
        error = write_directory_password(connector, str(person.id), phc)
    finally:
        connector.close()
    if error:
        current_app.logger.warning("directory password not written: %s", error)
    return render_page("sso_recovery.html", title=t("title.recovery"), codes=codes)
