"""/account/app-passwords: one password per mail client (IMAP and SMTP cannot ask for a
second factor).

The hub generates each one — 16 random letters (a–z, ~75 bits), shown once in four groups
of four — and keeps only `{SSHA512}` hashes of it (typed with or without the spaces),
the values the directory's userPassword gets on the person's next converge (urgent);
slapd checks them when Dovecot binds as the person. A random 75-bit secret needs no slow
hash: guessing it offline costs ~2^74 SHA-512s whatever the scheme, and a fast one keeps
a mail login cheap (slapd tries every value of the set). Making one needs the account
password (counted like a sign-in: wrong ones lock the same way); revoking one takes its
hashes out of the directory (the worker flushes Dovecot's cache and ends the person's
mail sessions). Audited: `app_password.create`, `app_password.revoke`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
import unicodedata
import uuid

from flask import abort, redirect, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from idhub.account.pages import (
    SECTIONS,
    Section,
    bp,
    password_proof,
    render_section,
    require_person,
)
from idhub.changes.mail_credentials import (
    AppPasswordSettings,
    mark_mail_credentials,
    publish_setting,
    requirement_on,
    second_factor_ids,
)
from idhub.db import get_db
from idhub.models import AppPassword, utcnow
from idhub.oidc.i18n import t
from idhub.oidc.pages.account import local_time
from idhub.oidc.pages.common import actor, check_csrf, error_page
from idhub.oidc.storage import writing
from idhub.services import current_hub

SCHEME = "{SSHA512}"
ALPHABET = string.ascii_lowercase
GROUPS, GROUP_LEN = 4, 4
LABEL_MAX = 64


def new_app_password() -> str:
    """`abcd efgh ijkl mnop`: 16 letters from the OS's CSPRNG, in groups of four."""
    letters = "".join(secrets.choice(ALPHABET) for _ in range(GROUPS * GROUP_LEN))
    return " ".join(letters[i : i + GROUP_LEN] for i in range(0, len(letters), GROUP_LEN))


def ssha512(secret: str) -> str:
    """RFC 2307-style salted SHA-512 (slapd's pw-sha2 module, Dovecot's SSHA512)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.sha512(secret.encode("utf-8") + salt).digest()
    return SCHEME + base64.b64encode(digest + salt).decode("ascii")


def directory_hashes(password: str) -> list[str]:
    """The values the directory accepts for one app password: as shown, and unspaced."""
    return [ssha512(password.replace(" ", "")), ssha512(password)]


def settings() -> AppPasswordSettings:
    return current_hub().settings.section(AppPasswordSettings)


def publish(session: Session) -> None:
    """The province's setting, made the worker's (a no-op unless it changed)."""
    hub = current_hub()
    publish_setting(session, hub.audit, hub.settings, actor())


def _live(session: Session, person_id: uuid.UUID) -> list[AppPassword]:
    return list(
        session.scalars(
            select(AppPassword)
            .where(AppPassword.person_id == person_id, AppPassword.revoked_at.is_(None))
            .order_by(AppPassword.created_at.desc())
        )
    )


def _page(person_id: uuid.UUID, status: int = 200, **context: object) -> Response:
    session = get_db().session(write=False)
    try:
        published = requirement_on(session) == settings().app_passwords_required
    finally:
        session.close()
    if not published:  # a write only when the setting changed since it was published
        with writing() as write:
            publish(write)
    session = get_db().session(write=False)
    try:
        rows = _live(session, person_id)
        required = requirement_on(session) and person_id in second_factor_ids(session, [person_id])
        for row in rows:
            session.expunge(row)
    finally:
        session.close()
    return render_section(
        "account_app_passwords.html",
        status,
        title=t("account.title.app_passwords"),
        rows=rows,
        required=required,
        local_time=local_time,
        max_live=settings().app_passwords_max,
        **context,
    )


@bp.get("/app-passwords")
def app_passwords() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    return _page(who.person.id)


@bp.post("/app-passwords")
def create_app_password() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    person = who.person
    label = unicodedata.normalize("NFC", request.form.get("label", "")).strip()
    if not label or len(label) > LABEL_MAX or any(unicodedata.category(c)[0] == "C" for c in label):
        return _page(person.id, 400, error=t("account.app_passwords.error.label"))
    hub = current_hub()
    if password_proof(who, request.form.get("password", "")) is not None:
        return _page(person.id, 400, error=t("account.app_passwords.error.password"), label=label)
    password = new_app_password()
    with writing() as session:
        live = session.scalar(
            select(func.count())
            .select_from(AppPassword)
            .where(AppPassword.person_id == person.id, AppPassword.revoked_at.is_(None))
        )
        if (live or 0) >= settings().app_passwords_max:
            full = True
        else:
            full = False
            row = AppPassword(person_id=person.id, label=label, hashes=directory_hashes(password))
            session.add(row)
            session.flush()
            # Urgent: someone is setting up a device and waits for it to log in.
            mark_mail_credentials(
                session, [person.id], "app password created", actor().request_id, urgent=True
            )
            hub.audit.record(
                session,
                actor=actor(person.id),
                action="app_password.create",
                object_type="app_password",
                object_id=row.id,
                after={"person_id": str(person.id), "label": label},
            )
    if full:
        return _page(person.id, 400, error=t("account.app_passwords.error.full"))
    return _page(person.id, created=password, created_label=label)


@bp.post("/app-passwords/<uuid:app_password_id>/revoke")
def revoke_app_password(app_password_id: uuid.UUID) -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    person = who.person
    with writing() as session:
        row = session.get(AppPassword, app_password_id, with_for_update=True)
        if row is None or row.person_id != person.id:
            abort(404)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            # Urgent: a lost or stolen device must stop reading mail now.
            mark_mail_credentials(
                session, [person.id], "app password revoked", actor().request_id, urgent=True
            )
            current_hub().audit.record(
                session,
                actor=actor(person.id),
                action="app_password.revoke",
                object_type="app_password",
                object_id=row.id,
                before={"person_id": str(person.id), "label": row.label},
            )
    return redirect("/account/app-passwords", 303)


SECTIONS.append(Section("account.app_passwords", "account.nav.app_passwords"))
