"""The /account blueprint and its overview: who the person is according to HR (read-only,
with where to report a mistake) and the sections they can manage.

Every section module registers its routes on `bp` and appends an entry to `SECTIONS`, so
the navigation lists exactly what is built."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, redirect, request
from werkzeug.wrappers import Response

from idhub.db import get_db
from idhub.identity.snapshots import UnitDirectory, person_snapshots
from idhub.oidc.i18n import t
from idhub.oidc.login import Outcome, check_password
from idhub.oidc.models import SignedIn
from idhub.oidc.pages.common import actor, render_page, signed_in, sso_settings
from idhub.services import current_hub

bp = Blueprint("account", __name__, url_prefix="/account", template_folder="../templates")


@dataclass(frozen=True)
class Section:
    """One entry of the account navigation: its endpoint and its title's message key."""

    endpoint: str
    title_key: str


SECTIONS: list[Section] = [Section("account.overview", "account.nav.overview")]


def require_person() -> SignedIn | Response:
    """The signed-in person, or a redirect to sign in and come back here."""
    who = signed_in()
    if who is None:
        return redirect("/sso/login?" + urlencode({"next": request.full_path.rstrip("?")}), 303)
    return who


def password_proof(who: SignedIn, password: str) -> str | None:
    """The person's own password, checked as a sign-in checks it (the address throttle,
    the lockout and the failure tally count it): None when right, else "throttled" or
    "wrong" (a wrong password and someone else's are the same answer)."""
    check = check_password(
        get_db(),
        sso_settings(),
        current_hub().audit,
        actor(who.person.id),
        who.person.username or "",
        password[:1024],
        request.remote_addr,
    )
    if check.outcome is Outcome.THROTTLED:
        return "throttled"
    if check.outcome is not Outcome.OK or check.person_id != who.person.id:
        return "wrong"
    return None


def render_section(template: str, status: int = 200, **context: Any) -> Response:
    return render_page(template, status, sections=SECTIONS, **context)


@bp.get("")
def overview() -> Response:
    who = require_person()
    if isinstance(who, Response):
        return who
    session = get_db().session(write=False)
    try:
        person = who.person
        snapshot = person_snapshots(
            session, [person], UnitDirectory.load(session), dt.date.today()
        )[person.id]
        posts = [p for p in snapshot.posts if p.active_on(snapshot.today)]
    finally:
        session.close()
    return render_section(
        "account_overview.html", title=t("account.title.overview"), person=person, posts=posts
    )
