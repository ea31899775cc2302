"""/account/passkeys: a person's passkeys — the list (name, when added, last used, synced
or not), adding one (named; the WebAuthn ceremony runs in static/passkey.js against the
JSON endpoints here), renaming and removing one. Every change is audited.

Adding or removing a passkey changes how the account signs in, so it asks for a recent
authentication in this hub session: signed in with the password (and second factor)
less than `RECENT_S` ago, or the password given again on this page (remembered in the
flow cookie for this session, for `RECENT_S`).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import g, redirect, request
from flask import session as flow
from sqlalchemy import select
from werkzeug.wrappers import Response

from idhub.account.pages import (
    SECTIONS,
    Section,
    bp,
    password_proof,
    render_section,
    require_person,
)
from idhub.changes.mail_credentials import mark_mail_credentials
from idhub.db import get_db
from idhub.models import Passkey, utcnow
from idhub.oidc.i18n import t
from idhub.oidc.models import SignedIn
from idhub.oidc.pages.account import local_time
from idhub.oidc.pages.common import actor, check_csrf, error_page
from idhub.oidc.pages.passkey import answer, hub_rp, json_csrf
from idhub.oidc.passkeys import (
    PasskeyError,
    add_passkey,
    clean_name,
    new_challenge,
    person_passkeys,
    registration_options,
    take_challenge,
)
from idhub.services import current_hub

RECENT_S = 300
FLOW_REAUTH = "reauth"
FLOW_REGISTER = "passkey_register"
PAGE = "/account/passkeys"

SECTIONS.append(Section("account.passkeys", "account.nav.passkeys"))


def recently_authenticated(who: SignedIn) -> bool:
    """Password (and second factor) at sign-in less than RECENT_S ago, or the password
    given again in this session as recently."""
    hub = who.session
    if hub is None:
        return False
    if "pwd" in (hub.amr or []) and (utcnow() - hub.auth_time).total_seconds() < RECENT_S:
        return True
    again = flow.get(FLOW_REAUTH) or {}
    fresh = time.time() - float(again.get("at", 0)) < RECENT_S
    return fresh and again.get("session") == str(hub.id)


def _page(who: SignedIn, status: int = 200, **context: Any) -> Response:
    with get_db().reading() as session:
        keys = person_passkeys(session, who.person.id)
        session.expunge_all()
    return render_section(
        "account_passkeys.html",
        status,
        title=t("account.title.passkeys"),
        passkeys=keys,
        recent=recently_authenticated(who),
        local_time=local_time,
        **context,
    )


@bp.get("/passkeys")
def passkeys() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    return _page(who, added=request.args.get("added") == "1")


@bp.post("/passkeys/confirm")
def passkeys_confirm() -> Response:
    """The password again, to add or remove passkeys for the next few minutes."""
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    refused = password_proof(who, request.form.get("password", ""))
    if refused is not None or who.session is None:
        return _page(who, 401, error=t("account.passkeys.error.password"))
    flow[FLOW_REAUTH] = {"session": str(who.session.id), "at": time.time()}
    return redirect(PAGE, 303)


@bp.post("/passkeys/options")
def passkeys_options() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return answer(401, error="signed out")
    if not json_csrf():
        return answer(403, error="csrf")
    if not recently_authenticated(who):
        return answer(403, error="reauth", next=PAGE)
    with get_db().transaction() as session:
        key, challenge = new_challenge(session, current_hub().keyring, "register", who.person.id)
        existing = person_passkeys(session, who.person.id)
        options = registration_options(hub_rp(), who.person, challenge, existing)
    flow[FLOW_REGISTER] = key
    return answer(200, options=options)


@bp.post("/passkeys/add")
def passkeys_add() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return answer(401, error="signed out")
    if not json_csrf():
        return answer(403, error="csrf")
    key = flow.pop(FLOW_REGISTER, None)
    if not recently_authenticated(who):
        return answer(403, error="reauth", next=PAGE)
    body = request.get_json(silent=True)
    body = body if isinstance(body, dict) else {}
    name = str(body.get("name") or "")
    hub, person_id = current_hub(), who.person.id
    added = None
    with get_db().transaction() as session:  # commits on failure too: the challenge is used
        try:
            challenge = take_challenge(session, hub.keyring, key, "register")
            passkey = add_passkey(
                session, hub_rp(), challenge, person_id, body.get("credential"), name
            )
        except PasskeyError as exc:
            reason = exc.reason
        else:
            hub.audit.record(
                session,
                actor=actor(person_id),
                action="account.passkey.add",
                object_type="person",
                object_id=person_id,
                after={"passkey": passkey.id, "name": passkey.name, "aaguid": passkey.aaguid},
            )
            added = passkey.id
            # a passkey is a second factor: the mail's app-passwords-only flag follows it
            mark_mail_credentials(
                session, [person_id], "passkey added", g.get("request_id"), urgent=False
            )
    if added is None:
        return answer(400, error="failed", reason=reason)
    return answer(200, next=PAGE + "?added=1")


def _own(session: Any, who: SignedIn, passkey_id: int) -> Passkey | None:
    return session.scalar(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.person_id == who.person.id)
    )


@bp.post("/passkeys/<int:passkey_id>/rename")
def passkeys_rename(passkey_id: int) -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    name = clean_name(request.form.get("name", ""))
    with get_db().transaction() as session:
        passkey = _own(session, who, passkey_id)
        if passkey is not None and passkey.name != name:
            before, passkey.name = passkey.name, name
            current_hub().audit.record(
                session,
                actor=actor(who.person.id),
                action="account.passkey.rename",
                object_type="person",
                object_id=who.person.id,
                before={"passkey": passkey.id, "name": before},
                after={"passkey": passkey.id, "name": name},
            )
    if passkey is None:
        return error_page("account.passkeys.error.unknown", 404)
    return redirect(PAGE, 303)


@bp.post("/passkeys/<int:passkey_id>/remove")
def passkeys_remove(passkey_id: int) -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    if not recently_authenticated(who):
        return _page(who, 403, error=t("account.passkeys.error.reauth"))
    person_id: uuid.UUID = who.person.id
    with get_db().transaction() as session:
        passkey = _own(session, who, passkey_id)
        if passkey is not None:
            current_hub().audit.record(
                session,
                actor=actor(person_id),
                action="account.passkey.remove",
                object_type="person",
                object_id=person_id,
                before={"passkey": passkey.id, "name": passkey.name},
            )
            session.delete(passkey)
            session.flush()
            mark_mail_credentials(
                session, [person_id], "passkey removed", g.get("request_id"), urgent=False
            )
    if passkey is None:
        return error_page("account.passkeys.error.unknown", 404)
    return redirect(PAGE, 303)
