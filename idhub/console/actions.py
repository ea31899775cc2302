"""HR actions at the console: joiner, add a post (primary or kiêm nhiệm), end a post,
change position, leaver, end sessions. Each is form → preview (the converge plan, nothing
saved) → confirm (saved in one transaction, with a reason), without script.

The writes are the service functions the API calls, with the administrator's HrContext
(their scope): a write outside it is refused with the same clear message. Errors go back
to the form, per field where the rule names one, and nothing is written."""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import redirect, request, url_for
from marshmallow import ValidationError
from marshmallow.fields import Field as MField
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from idhub.admin_scope import visible
from idhub.changes.context import HrContext
from idhub.console.frame import (
    Admin,
    bp,
    form_reason,
    render_console,
    render_console_message,
    require,
    require_form,
)
from idhub.console.plans import Write, preview, save
from idhub.db import get_db
from idhub.errors import DomainError, Invalid, NotFound
from idhub.identity.assignments import (
    create_assignment,
    end_assignment,
    get_assignment,
    update_assignment,
)
from idhub.identity.people import create_person, get_person, update_person
from idhub.identity.schemas import PersonSchema
from idhub.models import (
    Assignment,
    AssignmentKind,
    OrgUnit,
    Person,
    PersonStatus,
    Position,
    SsoSession,
    utcnow,
)
from idhub.oidc.i18n import t
from idhub.oidc.logout import end_access
from idhub.oidc.pages.common import logout_settings
from idhub.services import current_hub
from idhub.web.schemas import Text

WRITE = ("hr:write", "admin")
RESET = ("access:reset", "admin")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str = "text"  # text | date | kind | textarea
    required: bool = True


PERSON_FIELDS = (
    Field("family_name"),
    Field("middle_name", required=False),
    Field("given_name"),
    Field("national_id"),
    Field("date_of_birth", "date"),
    Field("civil_servant_code", required=False),
    Field("personal_email", required=False),
)
POST_FIELDS = (
    Field("unit_code"),
    Field("position_code"),
    Field("kind", "kind"),
    Field("start_date", "date"),
    Field("decision_ref", required=False),
)
END_FIELDS = (Field("end_date", "date"), Field("decision_ref", required=False))
CHANGE_FIELDS = (
    Field("position_code"),
    Field("unit_code", required=False),
    Field("start_date", "date"),
    Field("decision_ref", required=False),
)
REASON = Field("reason", "textarea")
# API field names in a rule's details → the form's fields.
FIELD_OF = {"unit_id": "unit_code", "position_id": "position_code"}


class FormError(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("form")
        self.errors = errors


# The API's own checks of a person's and a post's text, so the console accepts no more
# than `/api/v1` does: lengths, control characters (NUL included), CCCD, e-mail, codes.
_PERSON = PersonSchema().fields
_CHECKS: dict[str, MField] = {
    **{k: _PERSON[k] for k in ("family_name", "middle_name", "given_name", "national_id")},
    **{k: _PERSON[k] for k in ("civil_servant_code", "personal_email")},
    "decision_ref": Text(allow_none=True),
    "reason": Text(max_length=1000),
}
_DEFAULT_CHECK = Text(max_length=100)  # unit and position codes


def _read(fields: tuple[Field, ...]) -> dict[str, str]:
    # Cut well above every limit, so a too-long value is refused, never silently shortened.
    return {f.name: request.form.get(f.name, "").strip()[:2000] for f in (*fields, REASON)}


def _text_problem(name: str, raw: str) -> str | None:
    try:
        _CHECKS.get(name, _DEFAULT_CHECK).deserialize(raw)
    except ValidationError as exc:
        text = " ".join(str(m) for m in exc.messages) if isinstance(exc.messages, list) else ""
        if text.startswith("At most"):
            return t("console.people.error.too_long")
        if text.startswith("Control characters"):
            return t("console.people.error.control_chars")
        key = f"console.people.error.field.{name}"
        return t(key) if t(key) != key else t("console.people.error.invalid")
    return None


def _checked(fields: tuple[Field, ...], values: dict[str, str]) -> dict[str, Any]:
    """Plain checks of the form: required fields, dates, the kind of post."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {}
    for f in (*fields, REASON):
        raw = values.get(f.name, "")
        if not raw:
            if f.required:
                errors[f.name] = t("console.people.error.required")
            data[f.name] = None
            continue
        if f.kind == "date":
            try:
                data[f.name] = dt.date.fromisoformat(raw)
            except ValueError:
                errors[f.name] = t("console.people.error.date")
        elif f.kind == "kind":
            if raw not in {k.value for k in AssignmentKind}:
                errors[f.name] = t("console.people.error.kind")
            else:
                data[f.name] = AssignmentKind(raw)
        else:
            problem = _text_problem(f.name, raw)
            if problem:
                errors[f.name] = problem
            data[f.name] = unicodedata.normalize("NFC", raw)
    if errors:
        raise FormError(errors)
    return data


def _message(error: DomainError) -> str:
    """A rule's message for the person at the console: the console's own words for its
    code (Vietnamese or English, as the page), else the rule's (the scope and CCCD rules
    say theirs in both languages)."""
    key = f"console.people.error.{error.code}"
    translated = t(key)
    if translated != key:
        return translated
    return error.message


def _errors_of(error: DomainError) -> dict[str, str]:
    message = _message(error)
    fields = [FIELD_OF.get(k, k) for k in (error.details or {}) if isinstance(error.details, dict)]
    known = {f.name for f in (*PERSON_FIELDS, *POST_FIELDS, *END_FIELDS, REASON)}
    named = [f for f in fields if f in known]
    if not named:
        return {"": message}
    if error.code == "validation_failed":  # a generic code: the field says more
        key = f"console.people.error.field.{named[0]}"
        message = t(key) if t(key) != key else message
    return {named[0]: message}


def _unit(session: Any, code: str) -> OrgUnit:
    unit = session.scalar(
        select(OrgUnit).where(OrgUnit.code == code.strip().upper(), OrgUnit.status == "active")
    )
    if unit is None:
        raise Invalid("Unknown unit.", code="unknown_unit", details={"unit_code": ["Unknown."]})
    return unit


def _position(session: Any, code: str) -> Position:
    position = session.scalar(select(Position).where(Position.code == code.strip()))
    if position is None:
        raise Invalid(
            "Unknown position.", code="unknown_position", details={"position_code": ["Unknown."]}
        )
    return position


def _post(ctx: HrContext, person_id: uuid.UUID, data: dict[str, Any], kind: Any) -> None:
    create_assignment(
        ctx,
        {
            "person_id": person_id,
            "unit_id": _unit(ctx.session, data["unit_code"]).id,
            "position_id": _position(ctx.session, data["position_code"]).id,
            "kind": kind,
            "start_date": data["start_date"],
            "end_date": None,
            "decision_ref": data.get("decision_ref"),
        },
    )


def _joiner(data: dict[str, Any]) -> Write:
    def write(ctx: HrContext) -> set[uuid.UUID]:
        person = create_person(
            ctx,
            {
                k: data[k]
                for k in (
                    "family_name",
                    "middle_name",
                    "given_name",
                    "national_id",
                    "date_of_birth",
                    "civil_servant_code",
                    "personal_email",
                )
                if data.get(k) is not None
            },
        )
        ctx.session.flush()
        _post(ctx, person.id, data, AssignmentKind.PRIMARY)
        return {person.id}

    return write


def _add_post(person_id: uuid.UUID, data: dict[str, Any]) -> Write:
    def write(ctx: HrContext) -> set[uuid.UUID]:
        _post(ctx, person_id, data, data["kind"])
        return {person_id}

    return write


def _end_post(person_id: uuid.UUID, assignment_id: uuid.UUID, data: dict[str, Any]) -> Write:
    def write(ctx: HrContext) -> set[uuid.UUID]:
        end_assignment(
            ctx,
            _own_post(ctx, person_id, assignment_id),
            end_date=data["end_date"],
            decision_ref=data.get("decision_ref"),
            reason=data.get("reason"),
        )
        return {person_id}

    return write


def _change_position(person_id: uuid.UUID, assignment_id: uuid.UUID, data: dict[str, Any]) -> Write:
    """The post ends the day before the new one starts; the new one has the same kind,
    in the same unit unless another is named."""

    def write(ctx: HrContext) -> set[uuid.UUID]:
        old = _own_post(ctx, person_id, assignment_id)
        start = data["start_date"]
        if start <= old.start_date:
            raise Invalid(
                "The new post must start after the old one started.",
                code="change_too_early",
                details={"start_date": ["Not after the old post's start."]},
            )
        end_assignment(
            ctx,
            old,
            end_date=start - dt.timedelta(days=1),
            decision_ref=data.get("decision_ref"),
            reason=data.get("reason"),
        )
        ctx.session.flush()
        unit_code = data.get("unit_code") or ctx.session.scalar(
            select(OrgUnit.code).where(OrgUnit.id == old.unit_id)
        )
        _post(ctx, person_id, {**data, "unit_code": unit_code}, old.kind)
        return {person_id}

    return write


def _leaver(person_id: uuid.UUID, data: dict[str, Any]) -> Write:
    """Every post ends on the last day; a last day already past also marks the person
    as left (their account is disabled at once)."""

    def write(ctx: HrContext) -> set[uuid.UUID]:
        person = get_person(ctx.session, person_id, for_update=True)
        if not visible.has_person(ctx.session, ctx.scope, person_id):
            raise NotFound("No such person.", code="person_not_found")
        open_posts = ctx.session.scalars(
            select(Assignment).where(
                Assignment.person_id == person_id,
                or_(Assignment.end_date.is_(None), Assignment.end_date > data["end_date"]),
            )
        )
        for post in open_posts:
            last = max(data["end_date"], post.start_date)
            if post.end_date is None:
                end_assignment(
                    ctx,
                    post,
                    end_date=last,
                    decision_ref=data.get("decision_ref"),
                    reason=data.get("reason"),
                )
            else:  # already ending, later than the last day: brought forward
                update_assignment(ctx, post, {"end_date": last})
        if data["end_date"] < dt.date.today():
            update_person(ctx, person, {"status": PersonStatus.LEFT})
        return {person_id}

    return write


def _own_post(ctx: HrContext, person_id: uuid.UUID, assignment_id: uuid.UUID) -> Assignment:
    post = get_assignment(ctx.session, assignment_id)
    if post.person_id != person_id:
        raise NotFound("No such post.", code="assignment_not_found")
    return post


def _flow(
    admin: Admin,
    action: str,
    fields: tuple[Field, ...],
    make: Callable[[dict[str, Any]], Write],
    done: Callable[[set[uuid.UUID]], str],
    **context: Any,
) -> Response:
    """GET: the form; POST step=preview: the plan and a confirm form carrying the same
    values; POST step=confirm: saved, then the person's page."""
    values = _read(fields) if request.method == "POST" else dict(context.pop("initial", {}))
    context.pop("initial", None)
    page = dict(
        action=action, fields=fields, reason=REASON, values=values, field_errors={}, **context
    )
    title = t(f"console.people.action.{action}")
    if request.method == "GET":
        return render_console("console_people_action.html", title=title, **page)
    require_form()
    step = request.form.get("step", "preview")
    try:
        data = _checked(fields, values)
        write = make(data)
        if step == "confirm":
            people = save(admin, write, data["reason"])
            return redirect(done(people), 303)
        plans = preview(admin, write, data["reason"])
    except FormError as error:
        page["field_errors"] = error.errors
        return render_console("console_people_action.html", 422, title=title, **page)
    except DomainError as error:
        page["field_errors"] = _errors_of(error)
        status = 404 if isinstance(error, NotFound) else 422
        return render_console("console_people_action.html", status, title=title, **page)
    return render_console("console_people_action.html", title=title, plans=plans, **page)


def _person_page(people: set[uuid.UUID]) -> str:
    (person_id,) = people
    return url_for("console.person", person_id=person_id, saved=1)


def _reachable(admin: Admin, person_id: uuid.UUID, *scopes: str) -> Person | None:
    with get_db().reading() as session:
        person = session.get(Person, person_id)
        if person is None or not visible.has_person(session, admin.scope(*scopes), person_id):
            return None
        session.expunge(person)  # kept readable after the read transaction ends
        return person


@bp.route("/people/new", methods=["GET", "POST"])
def joiner() -> Response:
    admin = require(*WRITE)
    if isinstance(admin, Response):
        return admin
    initial = {"unit_code": request.args.get("unit", ""), "kind": "primary"}
    return _flow(
        admin,
        "joiner",
        PERSON_FIELDS + tuple(f for f in POST_FIELDS if f.name != "kind"),
        _joiner,
        _person_page,
        initial=initial,
    )


@bp.route("/people/<uuid:person_id>/posts/new", methods=["GET", "POST"])
def add_post(person_id: uuid.UUID) -> Response:
    admin = require(*WRITE)
    if isinstance(admin, Response):
        return admin
    person = _reachable(admin, person_id, *WRITE)
    if person is None:
        return render_console_message("console.error.not_found", 404)
    return _flow(
        admin,
        "add_post",
        POST_FIELDS,
        lambda data: _add_post(person_id, data),
        _person_page,
        person=person,
        initial={"kind": "concurrent"},
    )


@bp.route("/people/<uuid:person_id>/posts/<uuid:assignment_id>/end", methods=["GET", "POST"])
def end_post(person_id: uuid.UUID, assignment_id: uuid.UUID) -> Response:
    admin = require(*WRITE)
    if isinstance(admin, Response):
        return admin
    person = _reachable(admin, person_id, *WRITE)
    if person is None:
        return render_console_message("console.error.not_found", 404)
    return _flow(
        admin,
        "end_post",
        END_FIELDS,
        lambda data: _end_post(person_id, assignment_id, data),
        _person_page,
        person=person,
    )


@bp.route("/people/<uuid:person_id>/posts/<uuid:assignment_id>/change", methods=["GET", "POST"])
def change_position(person_id: uuid.UUID, assignment_id: uuid.UUID) -> Response:
    admin = require(*WRITE)
    if isinstance(admin, Response):
        return admin
    person = _reachable(admin, person_id, *WRITE)
    if person is None:
        return render_console_message("console.error.not_found", 404)
    return _flow(
        admin,
        "change_position",
        CHANGE_FIELDS,
        lambda data: _change_position(person_id, assignment_id, data),
        _person_page,
        person=person,
    )


@bp.route("/people/<uuid:person_id>/leave", methods=["GET", "POST"])
def leaver(person_id: uuid.UUID) -> Response:
    admin = require(*WRITE)
    if isinstance(admin, Response):
        return admin
    person = _reachable(admin, person_id, *WRITE)
    if person is None:
        return render_console_message("console.error.not_found", 404)
    return _flow(
        admin,
        "leaver",
        END_FIELDS,
        lambda data: _leaver(person_id, data),
        _person_page,
        person=person,
    )


@bp.route("/people/<uuid:person_id>/sessions/end", methods=["GET", "POST"])
def end_sessions(person_id: uuid.UUID) -> Response:
    """A security officer ends a person's sessions and tokens (apps are told by
    back-channel logout). The preview lists what will end."""
    admin = require(*RESET)
    if isinstance(admin, Response):
        return admin
    person = _reachable(admin, person_id, *RESET)
    if person is None:
        return render_console_message("console.error.not_found", 404)
    # Plain rows, not ORM objects: those expire when the read ends, and the page (which
    # reads auth_time, source_ip, user_agent) then failed with a DetachedInstanceError.
    with get_db().reading() as session:
        live = list(
            session.execute(
                select(SsoSession.auth_time, SsoSession.source_ip, SsoSession.user_agent).where(
                    SsoSession.person_id == person_id,
                    SsoSession.ended_at.is_(None),
                    SsoSession.expires_at > utcnow(),
                )
            )
        )
    page: dict[str, Any] = dict(
        action="end_sessions", person=person, live=live, values={}, field_errors={}
    )
    title = t("console.people.action.end_sessions")
    if request.method == "GET":
        return render_console("console_people_sessions.html", title=title, **page)
    require_form()
    reason, problem = form_reason()
    page["values"] = {"reason": reason}
    if problem or not reason:
        page["field_errors"] = {"reason": problem or t("console.people.error.required")}
        return render_console("console_people_sessions.html", 422, title=title, **page)
    if request.form.get("step") != "confirm":
        return render_console("console_people_sessions.html", title=title, preview=True, **page)
    hub = current_hub()
    end_access(
        get_db(),
        hub.audit,
        hub.keyring,
        logout_settings(),
        admin.actor(),
        [person_id],
        reason=reason,
    )
    return redirect(url_for("console.person", person_id=person_id, saved=1), 303)
