"""Signing in with a passkey: JSON endpoints the sign-in pages' script (static/passkey.js)
talks to — as the second factor after the password (`mode` "second", instead of the TOTP
code), or alone from the first page (`mode` "passwordless": a discoverable credential
with user verification).

`POST /sso/passkey/options` starts a ceremony (a one-time challenge, its key in the flow
cookie); `POST /sso/passkey/verify` checks the answer and, as the code step does, checks
the person may sign in, starts the hub session, audits `sso.login.success` (method
"passkey") and answers where to go next. Both need the page's CSRF token in the
`X-CSRF-Token` header. Failures count against the source address (the same throttle as
every sign-in step) and go into the account's failure tally (step "passkey"); the locks
on guessed secrets (password pair lock, code lock) do not apply: nothing is guessed.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Any

from flask import jsonify, request
from flask import session as flow
from werkzeug.wrappers import Response

from idhub.db import get_db
from idhub.models import Person
from idhub.oidc.failures import flush_person, note_failure, note_throttled
from idhub.oidc.login import account_enabled, credential
from idhub.oidc.pages.common import actor, bp, safe_next, secure_cookies, sso_settings
from idhub.oidc.pages.login import pending_person
from idhub.oidc.passkeys import (
    PasskeyError,
    RelyingParty,
    authentication_options,
    new_challenge,
    person_passkeys,
    relying_party,
    take_challenge,
    verify_assertion,
)
from idhub.oidc.sessions import set_cookie, start_session
from idhub.oidc.state import oidc_state
from idhub.oidc.throttle import count_source_failure, source_throttled
from idhub.services import current_hub
from idhub.web.proxies import throttle_key

FLOW_KEY = "passkey"
AMR = {"second": ["pwd", "hwk", "mfa"], "passwordless": ["hwk", "user", "mfa"]}


def hub_rp() -> RelyingParty:
    return relying_party(oidc_state().issuer)


def json_csrf() -> bool:
    sent = request.headers.get("X-CSRF-Token", "")
    return bool(sent) and hmac.compare_digest(sent, flow.get("csrf", ""))


def answer(status: int, **body: Any) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


@bp.post("/sso/passkey/options")
def passkey_options() -> Response:
    if not json_csrf():
        return answer(403, error="csrf")
    mode = _body().get("mode")
    if mode not in AMR:
        return answer(400, error="mode")
    person_id = pending_person() if mode == "second" else None
    if mode == "second" and person_id is None:
        return answer(409, error="expired", next="/sso/login")
    services, sso = current_hub(), sso_settings()
    db, source = get_db(), throttle_key(request.remote_addr)
    with db.reading() as session:
        throttled = source_throttled(session, sso, source)
    if throttled:
        note_throttled(
            db, sso, services.audit, actor(), person_id=person_id, step="passkey", source=source
        )
        return answer(429, error="throttled")
    with db.transaction() as session:
        key, challenge = new_challenge(session, services.keyring, mode, person_id)
        allowed = person_passkeys(session, person_id) if person_id else None
        if allowed == []:
            return answer(409, error="no passkey")
        options = authentication_options(hub_rp(), challenge, allowed)
    flow[FLOW_KEY] = {"key": key, "mode": mode}
    return answer(200, options=options)


@bp.post("/sso/passkey/verify")
def passkey_verify() -> Response:
    if not json_csrf():
        return answer(403, error="csrf")
    started = flow.pop(FLOW_KEY, None) or {}
    mode = started.get("mode")
    if mode not in AMR:
        return answer(409, error="expired")
    person_id = pending_person() if mode == "second" else None
    if mode == "second" and person_id is None:
        return answer(409, error="expired", next="/sso/login")
    body = _body()
    services, sso = current_hub(), sso_settings()
    keyring, audit, source = services.keyring, services.audit, throttle_key(request.remote_addr)
    db = get_db()
    secret = None
    with db.transaction() as session:  # commits on failure too: the challenge stays used
        try:
            challenge = take_challenge(session, keyring, started.get("key"), mode)
            key = verify_assertion(
                session,
                audit,
                actor(person_id),
                hub_rp(),
                challenge,
                body.get("credential"),
                person_id=person_id,
            )
            who = key.person_id
            person = session.get(Person, who)
            if person is None or not account_enabled(session, person):
                raise PasskeyError("account disabled", key)
        except PasskeyError as exc:
            count_source_failure(session, sso, source)
            failed_id = exc.passkey.person_id if exc.passkey is not None else person_id
            note_failure(
                session, sso, audit, actor(), person_id=failed_id, step="passkey", source=source
            )
        else:
            secret = _signed_in(session, who, mode, key.id)
    if secret is None:
        return answer(401, error="failed")
    if mode == "second":
        next_url = safe_next(flow.pop("pending", {}).get("next"))
    else:
        flow.pop("pending", None)
        next_url = safe_next(body.get("next") if isinstance(body.get("next"), str) else None)
    response = answer(200, next=next_url)
    set_cookie(response, secret, secure=secure_cookies(), max_age=sso.session_ttl_s)
    return response


def _signed_in(session: Any, person_id: uuid.UUID, mode: str, passkey_id: int) -> str:
    """What the code step does on success: forget the failures, start the session, audit."""
    services, sso = current_hub(), sso_settings()
    credential(session, person_id, lock=True).failed_logins = 0
    flush_person(session, services.audit, actor(), person_id)
    hub, secret = start_session(
        session,
        services.keyring,
        person_id,
        amr=list(AMR[mode]),
        ttl_s=sso.session_ttl_s,
        source_ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"),
    )
    services.audit.record(
        session,
        actor=actor(person_id),
        action="sso.login.success",
        object_type="person",
        object_id=person_id,
        after={"session": str(hub.id), "method": "passkey", "mode": mode, "passkey": passkey_id},
    )
    return secret
