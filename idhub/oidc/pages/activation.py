"""Action links (/sso/activate#<token>): a joiner's activation and an access reset.

The token rides in the URL fragment, which browsers never send: no access log (gunicorn,
werkzeug, the hub's own), proxy or Referer ever holds it. The page's script
(static/sso-link.js) hands it over once in a POST body; the hub keeps only the link's id
in the signed flow cookie and sends the browser back to `/sso/activate`, a path with
nothing secret in it. Then the person sets a password and enrols TOTP (activation, or a
reset that asked for it, or a person with no factor yet), or proves the current TOTP code
or a recovery code (a reset that keeps the second factor), and sees recovery codes once
when new ones were made.
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request
from flask import session as flow
from werkzeug.wrappers import Response

from idhub.db import get_db
from idhub.errors import Invalid
from idhub.models import ActionToken, Person, PersonCredential, utcnow
from idhub.oidc import totp
from idhub.oidc.credentials import (
    LINK_PATH,
    RESET,
    link_failure,
    set_credentials,
    set_password_only,
    valid_action_link,
    valid_action_token,
)
from idhub.oidc.i18n import t
from idhub.oidc.login import credential
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
from idhub.oidc.passwords import check_password_rules
from idhub.oidc.second_factor import prove_identity, re_enrol
from idhub.services import current_hub


def _no_referrer(response: Response) -> Response:
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _flow_link() -> int | None:
    held = flow.get("link")
    return held if isinstance(held, int) else None


@bp.get("/sso/activate/<path:_old>")
def old_link(_old: str) -> Response:
    """Links with the token in the path are no longer issued (nor honoured)."""
    return _no_referrer(error_page("error.link", 404))


def _load(link_id: int) -> tuple[ActionToken, Person, bool] | None:
    """The live link, its person, and whether the page keeps the second factor.

    A reset that re-enrols the factor (a lost phone) has a hand-over code: the person
    proves it or their password before the new TOTP is set (`_lost_phone`)."""
    session = get_db().session(write=False)
    try:
        link = valid_action_link(session, link_id)
        person = session.get(Person, link.person_id) if link else None
        if link is None or person is None:
            return None
        cred = session.get(PersonCredential, person.id)
        keep = (
            link.purpose == RESET
            and not link.reset_second_factor
            and cred is not None
            and bool(cred.totp_secret_encrypted)
        )
        session.expunge(link)
        session.expunge(person)
        return link, person, keep
    finally:
        session.close()


def _lost_phone(link: ActionToken) -> bool:
    return link.purpose == RESET and link.handover_hash is not None


def _hand_over() -> Response:
    """The token from the fragment, in a POST body: keep its id, forget the token."""
    if not check_csrf():
        return error_page("error.csrf")
    token = request.form.get("link", "").strip()[:128]
    session = get_db().session(write=False)
    try:
        row = valid_action_token(session, current_hub().keyring, token)
        link_id = row.id if row is not None else None
    finally:
        session.close()
    if link_id is None:
        return error_page("error.link", 404)
    flow["link"] = link_id
    flow.pop("enrol", None)
    return redirect(LINK_PATH, 303)


@bp.route(LINK_PATH, methods=["GET", "POST"])
def activate() -> Response:
    if request.method == "POST" and "link" in request.form:
        return _no_referrer(_hand_over())
    link_id = _flow_link()
    loaded = _load(link_id) if link_id is not None else None
    if loaded is None:
        flow.pop("link", None)
        if request.method == "POST":
            return _no_referrer(error_page("error.link", 404))
        # A new link's token may be in the fragment: the page's script hands it over.
        return _no_referrer(render_page("sso_link.html", title=t("title.link")))
    return _no_referrer(_credentials_page(*loaded))


def _credentials_page(link: ActionToken, person: Person, keep: bool) -> Response:
    hub = current_hub()
    keyring, sso = hub.keyring, sso_settings()
    context: dict[str, Any] = dict(
        title=t("title.activate" if link.purpose != RESET else "title.reset"),
        person=person,
        keep_factor=keep,
        min_length=sso.password_min_length,
        lost_phone=_lost_phone(link),
    )
    secret = None
    if not keep:
        enrol = flow.get("enrol")
        if not enrol or enrol.get("link") != link.id:
            enrol = {"link": link.id, "secret": keyring.encrypt(totp.new_secret())}
            flow["enrol"] = enrol
        secret = keyring.decrypt(enrol["secret"])
        uri = totp.provisioning_uri(secret, person.username or str(person.id), sso.totp_issuer)
        context.update(secret=secret, qr=totp.qr_svg(uri))
    if request.method == "GET":
        return render_page("sso_activate.html", **context)
    if not check_csrf():
        return error_page("error.csrf")
    password = request.form.get("password", "")[:1024]
    lost = _lost_phone(link)
    if password != request.form.get("password2", "")[:1024]:
        return render_page(
            "sso_activate.html", 400, errors=[t("error.password_mismatch")], **context
        )
    code = request.form.get("code", "")[:64]
    db = get_db()
    codes: list[str] | None = None
    wrong_code = wrong_proof = False
    try:
        with db.transaction() as session:
            row = valid_action_link(session, link.id, lock=True)
            live = session.get(Person, person.id)
            if row is None or live is None:
                raise Invalid("link used")
            who = actor(person.id)
            if keep:
                check_password_rules(sso, live, password)  # before the code is spent
                cred = credential(session, person.id, lock=True)
                proven = (
                    totp.verify_totp(session, hub.keyring, cred, code)
                    if code.strip().isdigit()
                    else totp.use_recovery_code(session, hub.keyring, person.id, code)
                )
                if not proven:
                    link_failure(row)
                    wrong_code = True
                else:
                    set_password_only(
                        session, hub.audit, sso, who, live, cred, password=password, reason="reset"
                    )
                    row.used_at = utcnow()
            elif lost:
                assert secret is not None
                proven_by = prove_identity(
                    session,
                    keyring,
                    sso,
                    row,
                    person.id,
                    request.form.get("proof", "")[:1024],
                )
                if proven_by is None:
                    link_failure(row)
                    wrong_proof = True
                else:
                    codes = re_enrol(
                        session,
                        keyring,
                        hub.audit,
                        sso,
                        who,
                        live,
                        password=password,
                        secret=secret,
                        code=code[:16],
                        proven_by=proven_by,
                    )
                    row.used_at = utcnow()
            else:
                assert secret is not None
                _, codes = set_credentials(
                    session,
                    keyring,
                    hub.audit,
                    sso,
                    who,
                    live,
                    password=password,
                    totp_secret=secret,
                    totp_code=code[:16],
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
    if wrong_proof:
        return render_page("sso_activate.html", 400, errors=[t("error.proof_failed")], **context)
    if wrong_code:
        return render_page("sso_activate.html", 400, errors=[t("error.code_failed")], **context)
    flow.pop("enrol", None)
    flow.pop("link", None)
    if link.purpose == RESET:  # a reset ends every session the old password opened
        end_access(
            db,
            hub.audit,
            keyring,
            logout_settings(),
            actor(person.id),
            [person.id],
            reason="password reset",
        )
    if codes is None:
        return render_page(
            "sso_message.html", title=t("title.reset"), message=t("text.password_changed")
        )
    return render_page("sso_recovery.html", title=t("title.recovery"), codes=codes)
