"""The console's frame: the /admin blueprint, who may enter, what they reach, rendering.

Every section module registers its routes on `bp` and appends a `Section` to `SECTIONS`;
the navigation shows a section to those holding one of its API scopes. Rights are the
same as the API's: a person's administrative roles (by hand, by rule, province-wide app
roles) turned into a `Scope` per operation, so a commune's officer reaches exactly what
their token would at `/api/v1`.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, g, redirect, request
from werkzeug.wrappers import Response

from idhub.admin_scope.grants import Held, person_scope, scopes_of
from idhub.admin_scope.scope import Scope
from idhub.changes.chain import Actor
from idhub.changes.context import HrContext
from idhub.db import get_db
from idhub.models import Person
from idhub.oidc.i18n import t
from idhub.oidc.models import SignedIn
from idhub.oidc.pages.common import actor, check_csrf, render_page, signed_in
from idhub.services import current_hub
from idhub.web.bearer import held_roles, province_scopes
from idhub.web.schemas import CONTROL_CHARS

bp = Blueprint("console", __name__, url_prefix="/admin", template_folder="../templates")

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# A session's amr must show a second factor: a one-time code, a passkey or a recovery code.
SECOND_FACTORS = frozenset({"otp", "hwk", "kba", "mfa"})
PAGE_SIZE = 50


@dataclass(frozen=True)
class Section:
    """One entry of the console's navigation: its endpoint, its title's message key and
    the API scopes of which the viewer must hold one to see it."""

    endpoint: str
    title_key: str
    scopes: tuple[str, ...]


SECTIONS: list[Section] = []


@dataclass
class Admin:
    """The person at the console: their roles today and the scopes those bring."""

    person: Person
    signed: SignedIn
    held: list[Held]
    province: set[str]
    scopes: set[str] = field(init=False)
    _scopes_cache: dict[frozenset[str], Scope] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.scopes = self.province | scopes_of(self.held)

    def may(self, *scopes: str) -> bool:
        return bool(self.scopes & set(scopes))

    def scope(self, *needed: str) -> Scope:
        """The units this person reaches with any of `needed` (as a token would)."""
        key = frozenset(needed)
        if key not in self._scopes_cache:
            with get_db().session(write=False) as session:
                self._scopes_cache[key] = person_scope(
                    session, self.held, self.province & key, key & self.scopes
                )
        return self._scopes_cache[key]

    def actor(self) -> Actor:
        return actor(self.person.id)

    def hr_context(self, session: Any, reason: str | None, *scopes: str) -> HrContext:
        """An HR write by this person, narrowed to their scope for `scopes` (hr:write)."""
        hub = current_hub()
        return HrContext(
            session=session,
            audit=hub.audit,
            actor=self.actor(),
            reason=reason,
            naming_pattern=hub.rules.naming.pattern,
            scope=self.scope(*(scopes or ("hr:write", "admin"))),
        )

    @property
    def sections(self) -> list[Section]:
        return [s for s in SECTIONS if self.may(*s.scopes)]


@bp.before_request
def _no_nul_in_query() -> Response | None:
    """A NUL in a search or filter is refused here: PostgreSQL cannot compare text with
    one (the query failed with a 500) and no name, code or id holds one."""
    if any("\x00" in key or "\x00" in value for key, value in request.args.items(multi=True)):
        return render_console_message("console.error.bad_query", 400)
    return None


@bp.after_request
def _no_store(response: Response) -> Response:
    """Nothing the console answers is cached: its pages, and its downloads (a change
    set's preview, an import's errors, the audit export) which hold people's data."""
    response.headers["Cache-Control"] = "no-store"
    return response


def current_admin() -> Admin | Response:
    """The signed-in administrator, or a redirect to sign in, or a refusal page.

    A session without a second factor is sent to sign in again (the sign-in asks for
    it); a person holding no administrative role gets 403."""
    if "console_admin" in g:
        return g.console_admin
    who = signed_in()
    if who is None or who.session is None:
        return redirect("/sso/login?" + urlencode({"next": request.full_path.rstrip("?")}), 303)
    if not SECOND_FACTORS & set(who.session.amr or []):
        return render_console_message("console.error.second_factor", 403)
    admin = Admin(who.person, who, held_roles(who.person.id), province_scopes(who.person.id))
    if not admin.scopes:
        return render_console_message("console.error.not_admin", 403)
    g.console_admin = admin
    return admin


def require(*scopes: str) -> Admin | Response:
    """The administrator when they hold one of `scopes` (somewhere), else 403."""
    admin = current_admin()
    if isinstance(admin, Response):
        return admin
    if scopes and not admin.may(*scopes):
        return render_console_message("console.error.forbidden", 403)
    return admin


def require_form() -> None:
    """A POST's CSRF token: a wrong or missing one stops here, nothing written."""
    if not check_csrf():
        abort(400, description="csrf")


def local(value: dt.datetime | dt.date | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    """A stored UTC time as the province reads it (Asia/Ho_Chi_Minh); dates as dd/mm/yyyy."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(LOCAL_TZ).strftime(fmt)
    return value.strftime("%d/%m/%Y")


def form_reason(max_length: int = 500) -> tuple[str, str | None]:
    """The form's `reason` on one line, and the message to show when it cannot be recorded
    as it is (control characters, NUL, too long): refused, never silently shortened."""
    text = unicodedata.normalize("NFC", " ".join(request.form.get("reason", "").split()))
    if CONTROL_CHARS.search(text):
        return text[:max_length], t("console.people.error.control_chars")
    if len(text) > max_length:
        return text[:max_length], t("console.people.error.too_long")
    return text, None


def form_values(names: tuple[str, ...], max_length: int = 500) -> tuple[dict[str, str], set[str]]:
    """The form's one-line text fields (NFC) and the names of those that cannot be taken
    as they are (control characters, NUL, longer than `max_length`): refused with a
    message on the field, never silently cut."""
    values, bad = {}, set()
    for name in names:
        text = unicodedata.normalize("NFC", " ".join(request.form.get(name, "").split()))
        if CONTROL_CHARS.search(text) or len(text) > max_length:
            bad.add(name)
        # What is shown again and looked up is clean (PostgreSQL refuses a NUL in a query).
        values[name] = CONTROL_CHARS.sub("", text)[:max_length]
    return values, bad


def page_number() -> int:
    raw = request.args.get("page", "1")
    return max(1, min(int(raw), 100_000)) if raw.isdigit() else 1


def parse_uuid(text: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(text or "")
    except ValueError:
        return None


def render_console(template: str, status: int = 200, **context: Any) -> Response:
    admin = g.get("console_admin")
    return render_page(
        template,
        status,
        admin=admin,
        sections=admin.sections if admin else [],
        local=local,
        **context,
    )


def render_console_message(key: str, status: int, **values: Any) -> Response:
    return render_console(
        "console_message.html", status, title=t("console.title.console"), message=t(key, **values)
    )


def section(endpoint: str, title_key: str, scopes: Iterable[str]) -> None:
    SECTIONS.append(Section(endpoint, title_key, tuple(scopes)))
