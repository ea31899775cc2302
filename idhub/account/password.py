"""Change password (/account/password): the current password, the new one twice, and
"end my other sessions".

The current password is checked like a sign-in (`oidc.login.check_password`): a wrong one
counts toward the account's lockout for this address and is tallied with the sign-in
failures, and a locked or throttled address is refused the same way. The new password
follows the rules of activation and reset (`oidc.passwords.check_password_rules`); it is
set in one transaction with its audit event and the directory's copy queued on the
converge path (`credentials.mark_directory_password`: LDAP, then the mail target's
follow-up flushes Dovecot's auth cache), so IMAP takes the new password and refuses the
old one once the converge lands. Ending the other sessions keeps this one.
"""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from idhub.account.pages import (
    SECTIONS,
    Section,
    bp,
    password_proof,
    render_section,
    require_person,
)
from idhub.db import get_db
from idhub.errors import Invalid
from idhub.models import Person
from idhub.oidc.credentials import set_password_only
from idhub.oidc.i18n import t
from idhub.oidc.login import credential
from idhub.oidc.pages.common import actor, check_csrf, end_own_access, error_page, sso_settings
from idhub.oidc.passwords import check_password_rules
from idhub.services import current_hub

SECTIONS.append(Section("account.password", "account.nav.password"))
REASON = "changed by the person (/account/password)"


def _page(status: int = 200, **context: object) -> Response:
    return render_section(
        "account_password.html",
        status,
        title=t("account.title.password"),
        min_length=sso_settings().password_min_length,
        **context,
    )


def rule_messages(exc: Invalid, min_length: int) -> list[str]:
    return [t(f"error.{p}", n=min_length) for p in (exc.details or {}).get("password", [])]


@bp.get("/password")
def password() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    return _page()


@bp.post("/password")
def change_password() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    if not check_csrf():
        return error_page("error.csrf")
    sso, hub, db = sso_settings(), current_hub(), get_db()
    current = request.form.get("current", "")[:1024]
    new = request.form.get("password", "")[:1024]
    if new != request.form.get("password2", "")[:1024]:
        return _page(400, errors=[t("error.password_mismatch")])
    if new == current:
        return _page(400, errors=[t("account.error.same_password")])
    try:  # the rules first: a weak new password costs no sign-in attempt
        check_password_rules(sso, who.person, new)
    except Invalid as exc:
        return _page(400, errors=rule_messages(exc, sso.password_min_length))
    refused = password_proof(who, current)
    if refused == "throttled":
        return _page(429, errors=[t("error.throttled")])
    if refused is not None:
        return _page(401, errors=[t("account.error.current_password")])
    with db.transaction() as session:
        person = session.get(Person, who.person.id)
        assert person is not None
        cred = credential(session, person.id, lock=True)
        set_password_only(
            session, hub.audit, sso, actor(person.id), person, cred, password=new, reason=REASON
        )
    ended = request.form.get("end_others") == "1"
    if ended and who.session is not None:
        end_own_access(
            who.person.id,
            "password changed",
            session_id=None,
            revoke_all_tokens=False,
            keep_session=who.session.id,
        )
    return _page(
        done=t("account.text.password_changed")
        + (" " + t("account.text.others_ended") if ended else "")
    )
