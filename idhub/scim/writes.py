"""SCIM writes → the HR service functions the REST API calls (same rules, audit events and
converge jobs, in the request's one transaction).

POST /Users is a joiner: the person, then their posts (the idhub extension's `posts`).
PUT / PATCH change names, the civil-servant code, CCCD and date of birth, and `active`:
false is the leaver path (status "left", access cut urgently), as a REST PATCH of status.
DELETE is that leaver path too; the HR record is history and is never deleted."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import ValidationError
from scim2_models import EnterpriseUser, InvalidValueException, MutabilityException
from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.changes.context import HrContext
from idhub.identity import assignments, people
from idhub.identity.schemas import AssignmentSchema, PersonPatchSchema, PersonSchema
from idhub.models import AssignmentKind, OrgUnit, Person, PersonStatus, Position, UnitStatus
from idhub.scim.models import IdhubUser, Post


def _refused(exc: ValidationError) -> InvalidValueException:
    return InvalidValueException(detail=f"Refused / Không hợp lệ: {exc.messages}")


def _fields(user: Any) -> dict[str, Any]:
    """The person's columns a SCIM User carries (None: not given)."""
    name = user.name
    enterprise = user[EnterpriseUser]
    hub = user[IdhubUser]
    return {
        "family_name": name.family_name if name else None,
        "middle_name": (name.middle_name or "") if name else None,
        "given_name": name.given_name if name else None,
        "civil_servant_code": enterprise.employee_number if enterprise else None,
        "national_id": hub.national_id if hub else None,
        "date_of_birth": hub.birth_date.isoformat() if hub and hub.birth_date else None,
    }


Codes = dict[tuple[str, str], Any]  # (table, code) → id, looked up once per request


def _by_code(session: Session, model: Any, code: str | None, what: str, codes: Codes) -> Any:
    if not code:
        raise InvalidValueException(detail=f"Chức vụ thiếu {what}. / A post needs {what}.")
    key = (model.__tablename__, code)
    if key not in codes:
        query = select(model.id).where(model.code == code)
        if model is OrgUnit:  # a code may come back after a reorganisation: the live unit
            query = query.where(OrgUnit.status == UnitStatus.ACTIVE)
        codes[key] = session.scalar(query.limit(1))
    if codes[key] is None:
        raise InvalidValueException(detail=f"Không có {what} {code!r}. / Unknown {what} {code!r}.")
    return codes[key]


def _post_raw(session: Session, post: Post, codes: Codes) -> dict[str, Any]:
    """A post as the REST API's assignment body (codes → ids), without the person."""
    kind = (post.kind or "primary").lower()
    if kind not in {k.value for k in AssignmentKind}:
        raise InvalidValueException(
            detail="Loại chức vụ là primary hoặc concurrent (kiêm nhiệm). / "
            "A post's kind is primary or concurrent."
        )
    return {
        "unit_id": str(_by_code(session, OrgUnit, post.unit_code, "unitCode", codes)),
        "position_id": str(_by_code(session, Position, post.position_code, "positionCode", codes)),
        "kind": kind,
        "start_date": (post.start_date or dt.date.today()).isoformat(),
        "end_date": post.end_date.isoformat() if post.end_date else None,
        "decision_ref": post.decision_ref,
    }


def joiner_bodies(
    session: Session, user: Any, codes: Codes
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A SCIM joiner → the REST API's person body and assignment bodies (not yet loaded)."""
    raw = {k: v for k, v in _fields(user).items() if v is not None}
    if "national_id" not in raw:
        raise InvalidValueException(
            detail="Người mới cần số CCCD. / "
            "A new person needs the CCCD (urn:…:idhub:2.0:User nationalId)."
        )
    if user.active is False:
        raise InvalidValueException(
            detail="Người mới không thể bắt đầu ở trạng thái ngừng. / "
            "A new person cannot start as inactive."
        )
    hub = user[IdhubUser]
    posts = [_post_raw(session, post, codes) for post in (hub.posts if hub and hub.posts else [])]
    return raw, posts


def _load(schema: Any, raw: dict[str, Any]) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(raw)
    except ValidationError as exc:
        raise _refused(exc) from exc
    return loaded


def create_user(ctx: HrContext, user: Any, codes: Codes | None = None) -> Person:
    """A joiner: the REST API's create_person, then create_assignment for each post
    (`codes`: units and positions already looked up in this request, e.g. a Bulk)."""
    raw, posts = joiner_bodies(ctx.session, user, {} if codes is None else codes)
    person = people.create_person(ctx, _load(PersonSchema(), raw))
    for post in posts:
        body = {**post, "person_id": str(person.id)}
        assignments.create_assignment(ctx, _load(AssignmentSchema(), body))
    return person


def _post_keys(posts: list[Post] | None) -> set[tuple[Any, ...]]:
    return {
        ((p.unit_code or "").lower(), (p.position_code or "").lower(), p.kind, p.start_date)
        for p in posts or []
    }


def change_user(ctx: HrContext, person: Person, before: Any, after: Any) -> Person:
    """PUT and PATCH: what differs between the rendered resource and the new one."""
    old, new = _fields(before), _fields(after)
    raw: dict[str, Any] = {}
    for key in ("family_name", "middle_name", "given_name", "civil_servant_code"):
        if new[key] != old[key]:
            raw[key] = new[key]
    for key in ("national_id", "date_of_birth"):  # never cleared through SCIM
        if new[key] is not None and new[key] != old[key]:
            raw[key] = new[key]
    if (after.active is not None) and after.active != before.active:
        status = PersonStatus.ACTIVE if after.active else PersonStatus.LEFT
        if status != person.status:
            raw["status"] = status.value
    hub_after = after[IdhubUser]
    if hub_after is not None and hub_after.posts is not None:
        hub_before = before[IdhubUser]
        if _post_keys(hub_after.posts) != _post_keys(hub_before.posts if hub_before else None):
            raise MutabilityException(
                detail="Chức vụ đổi qua /api/v1/assignments, không qua SCIM. / "
                "Posts change through /api/v1/assignments (a decision, dates), "
                "not through SCIM PUT or PATCH."
            )
    if not raw:
        return person
    try:
        changes = PersonPatchSchema().load(raw)
    except ValidationError as exc:
        raise _refused(exc) from exc
    return people.update_person(ctx, person, changes)


def leave(ctx: HrContext, person: Person) -> Person:
    """DELETE: the leaver path (status "left"), not a deletion."""
    if person.status == PersonStatus.LEFT:
        return person
    return people.update_person(ctx, person, {"status": PersonStatus.LEFT})
