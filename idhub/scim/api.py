"""/scim/v2: Users (read, and an HR system's writes), Groups (read-only), discovery."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response, request
from scim2_models import (
    Context,
    Group,
    InvalidValueException,
    NotFoundException,
    NotImplementedException,
    PatchOp,
    ResponseParameters,
    ScimFilter,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idhub.admin_scope import visible
from idhub.db import db_session
from idhub.identity.personal import note_personal_read
from idhub.models import Person
from idhub.scim import filters, groups, models, writes
from idhub.scim.models import HubUser
from idhub.scim.protocol import (
    READ,
    WRITE,
    base_url,
    body,
    bp,
    check_version,
    guarded,
    personal,
    respond,
)
from idhub.scim.users import View, users, weak_etag
from idhub.services import current_hub
from idhub.web.common import actor, current_scope, hr_context
from idhub.web.common import writes as one_transaction

LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PERSONAL_SHOWN = ["national_id", "date_of_birth"]


def view(*, personal_fields: bool | None = None) -> View:
    hub = current_hub()
    shown = personal() if personal_fields is None else personal_fields
    return View(base_url(), hub.rules, hub.connectors.base_dn, shown)


def _params(source: dict[str, Any]) -> ResponseParameters:
    def names(key: str) -> list[str] | None:
        value = source.get(key)
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return value or None

    return ResponseParameters[HubUser].model_validate(  # type: ignore[misc]
        {"attributes": names("attributes"), "excludedAttributes": names("excludedAttributes")}
    )


def dump(resource: Any, params: ResponseParameters | None = None) -> dict[str, Any]:
    out: dict[str, Any] = resource.model_dump(
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=params
    )
    return out


def _noted(people: list[Person], shown: View) -> None:
    if shown.personal and people:
        note_personal_read(actor(), [p.id for p in people], PERSONAL_SHOWN, "scim")


def visible_person(session: Session, raw: str, *, for_update: bool = False) -> Person:
    """The person behind /Users/<id>; 404 when absent or outside the client's subtree."""
    try:
        person_id = uuid.UUID(raw)
    except ValueError:
        raise NotFoundException(detail=f"Không có người dùng {raw}. / No User {raw}.") from None
    query = select(Person).where(Person.id == person_id)
    person = session.scalar(query.with_for_update() if for_update else query)
    if person is None or not visible.has_person(session, current_scope(), person_id):
        raise NotFoundException(detail=f"Không có người dùng {raw}. / No User {raw}.")
    return person


def _int(source: dict[str, Any], key: str, default: int) -> int:
    value = source.get(key)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidValueException(
            detail=f"{key} phải là số nguyên. / {key} must be an integer."
        ) from None


def search(source: dict[str, Any]) -> Response:
    """A page of Users: the filter and the subtree in SQL, counted before paging."""
    session = db_session()
    shown = view()
    query = visible.people(select(Person), session, current_scope())
    text = source.get("filter")
    if text:
        query = query.where(filters.where(str(text), shown.personal))
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    start = max(1, _int(source, "startIndex", 1))
    count = min(max(0, _int(source, "count", 100)), models.MAX_RESULTS)
    if source.get("sortBy"):
        column = filters.sort_column(str(source["sortBy"]))
        descending = str(source.get("sortOrder", "ascending")).lower() == "descending"
        query = query.order_by(column.desc() if descending else column.asc(), Person.id)
    else:
        query = query.order_by(Person.id)  # time-ordered ids: stable pages
    rows = list(session.scalars(query.offset(start - 1).limit(count))) if count else []
    params = _params(source)
    _noted(rows, shown)
    return respond(
        {
            "schemas": [LIST],
            "totalResults": total,
            "startIndex": start,
            "itemsPerPage": len(rows),
            "Resources": [dump(u, params) for u in users(session, rows, shown)],
        }
    )


def render(session: Session, person: Person, status: int = 200) -> Response:
    session.flush()
    shown = view()
    _noted([person], shown)
    resource = users(session, [person], shown)[0]
    return respond(
        dump(resource, _params(request.args)),
        status,
        etag=weak_etag(person.version),
        Location=resource.meta.location,
    )


# -- Users --------------------------------------------------------------------------------
@bp.get("/Users")
@guarded(READ)
def list_users() -> Response:
    return search(request.args.to_dict())


@bp.post("/Users/.search")
@guarded(READ)
def search_users() -> Response:
    return search(body())


@bp.get("/Users/<raw_id>")
@guarded(READ)
def get_user(raw_id: str) -> Response:
    session = db_session()
    return render(session, visible_person(session, raw_id))


@bp.post("/Users")
@guarded(WRITE)
@one_transaction
def create_user() -> Response:
    user = HubUser.model_validate(body(), scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    person = writes.create_user(hr_context(), user)
    return render(db_session(), person, 201)


def current(session: Session, person: Person) -> Any:
    """The resource as stored, personal fields included, to compare a change against."""
    return users(session, [person], view(personal_fields=True))[0]


@bp.put("/Users/<raw_id>")
@guarded(WRITE)
@one_transaction
def replace_user(raw_id: str) -> Response:
    session = db_session()
    person = visible_person(session, raw_id, for_update=True)
    check_version(person.version)
    after = HubUser.model_validate(body(), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    writes.change_user(hr_context(), person, current(session, person), after)
    return render(session, person)


@bp.patch("/Users/<raw_id>")
@guarded(WRITE)
@one_transaction
def patch_user(raw_id: str) -> Response:
    session = db_session()
    person = visible_person(session, raw_id, for_update=True)
    check_version(person.version)
    patch = PatchOp[HubUser].model_validate(body(), scim_ctx=Context.RESOURCE_PATCH_REQUEST)
    before = current(session, person)
    after = before.model_copy(deep=True)
    patch.patch(after)
    writes.change_user(hr_context(), person, before, after)
    return render(session, person)


@bp.delete("/Users/<raw_id>")
@guarded(WRITE)
@one_transaction
def delete_user(raw_id: str) -> Response:
    """The leaver path: the account is disabled and access cut; the record stays."""
    session = db_session()
    person = visible_person(session, raw_id, for_update=True)
    check_version(person.version)
    writes.leave(hr_context(), person)
    return Response(status=204)


@bp.route("/Me", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@guarded(READ)
def me() -> Response:
    raise NotImplementedException(detail="/Me is not offered: clients are not people.")


# -- Groups (read-only) --------------------------------------------------------------------
def _groups() -> list[Any]:
    return groups.groups(db_session(), current_scope(), view())


@bp.get("/Groups")
@guarded(READ)
def list_groups() -> Response:
    found = _groups()
    text = request.args.get("filter")
    if text:
        matcher = ScimFilter[Group](text)  # type: ignore[misc]
        found = [g for g in found if matcher.match(g)]
    start = max(1, _int(request.args, "startIndex", 1))
    count = min(max(0, _int(request.args, "count", 100)), models.MAX_RESULTS)
    page = found[start - 1 : start - 1 + count]
    params = ResponseParameters[Group].model_validate(  # type: ignore[misc]
        {
            "attributes": request.args.get("attributes") or None,
            "excludedAttributes": request.args.get("excludedAttributes") or None,
        }
    )
    return respond(
        {
            "schemas": [LIST],
            "totalResults": len(found),
            "startIndex": start,
            "itemsPerPage": len(page),
            "Resources": [dump(g, params) for g in page],
        }
    )


@bp.get("/Groups/<name>")
@guarded(READ)
def get_group(name: str) -> Response:
    for group in _groups():
        if group.id == name:
            return respond(dump(group))
    raise NotFoundException(detail=f"Không có nhóm {name}. / No Group {name}.")


@bp.route("/Groups", methods=["POST"])
@bp.route("/Groups/<name>", methods=["PUT", "PATCH", "DELETE"])
@guarded(WRITE)
def write_group(name: str | None = None) -> Response:
    del name
    raise NotImplementedException(
        detail="Nhóm chỉ đọc: thành viên theo chức vụ và tệp quy tắc. / "
        "Groups are read-only: membership follows posts and the rules file."
    )


# -- Discovery (RFC 7644 §4: no authentication needed) --------------------------------------
@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    return respond(dump(models.service_provider_config(base_url())))


def _listing(items: list[Any]) -> Response:
    resources = [dump(i) for i in items]
    return respond(
        {
            "schemas": [LIST],
            "totalResults": len(resources),
            "startIndex": 1,
            "itemsPerPage": len(resources),
            "Resources": resources,
        }
    )


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    return _listing(models.resource_types(base_url()))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    for item in models.resource_types(base_url()):
        if item.id == name:
            return respond(dump(item))
    raise NotFoundException(detail=f"No ResourceType {name}.")


@bp.get("/Schemas")
def all_schemas() -> Response:
    return _listing(models.schemas(base_url()))


@bp.get("/Schemas/<urn>")
def one_schema(urn: str) -> Response:
    for item in models.schemas(base_url()):
        if item.id == urn:
            return respond(dump(item))
    raise NotFoundException(detail=f"No Schema {urn}.")


@bp.get("/<path:unknown>")  # GET only: a known path with another method stays a 405
def nowhere(unknown: str) -> Response:
    raise NotFoundException(detail=f"No SCIM endpoint /{unknown}.")
