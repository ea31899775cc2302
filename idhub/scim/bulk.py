"""POST /Bulk (RFC 7644 §3.7): Users' writes, each operation in a savepoint of its own (as
the RFC asks, one failing does not undo the others; one commit for the request), `bulkId:`
references to Users created earlier in the same request, and `failOnErrors` to stop after
that many failures."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from flask import Response, request
from scim2_models import (
    Context,
    InvalidSyntaxException,
    InvalidValueException,
    PatchOp,
    PayloadTooLargeException,
    TooManyException,
)
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from idhub.db import db_session
from idhub.identity.api.batches import apply_batch
from idhub.models import Person
from idhub.scim import writes
from idhub.scim.api import current, visible_person
from idhub.scim.models import MAX_BULK_BYTES, MAX_BULK_OPERATIONS, HubUser
from idhub.scim.protocol import (
    PREFIX,
    WRITE,
    as_error,
    body,
    bp,
    check_version,
    error_body,
    guarded,
    respond,
)
from idhub.scim.users import weak_etag
from idhub.web.common import hr_context

BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
_BULK_ID = re.compile(r"bulkId:([A-Za-z0-9_.-]{1,64})")
_PATH = re.compile(r"^/Users(?:/([^/]+))?$")


def _resolve(value: Any, created: dict[str, str]) -> Any:
    """Every "bulkId:<id>" in the operation → the id of the User it created."""
    text = json.dumps(value, ensure_ascii=False)

    def swap(match: re.Match[str]) -> str:
        if match.group(1) not in created:
            raise InvalidValueException(detail=f"Unknown or failed {match.group(0)}.")
        return created[match.group(1)]

    return json.loads(_BULK_ID.sub(swap, text))


def _apply(
    op: dict[str, Any], created: dict[str, str], codes: writes.Codes
) -> tuple[int, Any, str | None]:
    """One operation → (status, the person or None, its location)."""
    session = db_session()
    method = str(op.get("method", "")).upper()
    match = _PATH.match(str(_resolve(op.get("path", ""), created)))
    if match is None:
        raise InvalidValueException(detail="Bulk operations write /Users (Groups are read-only).")
    data = _resolve(op.get("data"), created) if op.get("data") is not None else None
    if method == "POST" and match.group(1) is None:
        if not isinstance(data, dict):
            raise InvalidSyntaxException(detail="POST needs data.")
        user = HubUser.model_validate(data, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
        person = writes.create_user(hr_context(), user, codes)
        if op.get("bulkId"):
            created[str(op["bulkId"])] = str(person.id)
        return 201, person, f"/Users/{person.id}"
    if match.group(1) is None or method not in ("PUT", "PATCH", "DELETE"):
        raise InvalidValueException(detail=f"{method} {op.get('path')} is not a bulk operation.")
    person = visible_person(session, match.group(1), for_update=True)
    check_version(person.version, op.get("version") or None)
    if method == "DELETE":
        writes.leave(hr_context(), person)
        return 204, person, f"/Users/{person.id}"
    if not isinstance(data, dict):
        raise InvalidSyntaxException(detail=f"{method} needs data.")
    before = current(session, person)
    if method == "PUT":
        after = HubUser.model_validate(data, scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST)
    else:
        after = before.model_copy(deep=True)
        PatchOp[HubUser].model_validate(data, scim_ctx=Context.RESOURCE_PATCH_REQUEST).patch(after)
    writes.change_user(hr_context(), person, before, after)
    return 200, person, f"/Users/{person.id}"


def _session_state(session: Any) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in session.info.items()}


def _as_batch(operations: list[Any], codes: writes.Codes) -> list[dict[str, Any]] | None:
    """A Bulk of joiners only (POST /Users, no `bulkId:` inside) → the REST batch's items,
    so it takes the batch path's set-based checks; None for anything else."""
    session = db_session()
    items: list[dict[str, Any]] = []
    for n, op in enumerate(operations):
        data = op.get("data") if isinstance(op, dict) else None
        if (
            not isinstance(data, dict)
            or str(op.get("method", "")).upper() != "POST"
            or op.get("path") != "/Users"
            or "bulkId:" in json.dumps(data, ensure_ascii=False)
        ):
            return None
        try:
            user = HubUser.model_validate(data, scim_ctx=Context.RESOURCE_CREATION_REQUEST)
            person, posts = writes.joiner_bodies(session, user, codes)
        except Exception:  # noqa: BLE001 - the operations one by one say what is wrong
            return None
        items.append({"op": "create_person", "ref": f"op{n}", "data": person})
        items += [
            {"op": "create_assignment", "data": {**post, "person_id": f"ref:op{n}"}}
            for post in posts
        ]
    return items


def _all_at_once(operations: list[Any], codes: writes.Codes) -> list[dict[str, Any]] | None:
    """Joiners only: all of them through the REST batch path in one savepoint. Any failure
    and nothing of it stays: the operations then run one by one (None)."""
    items = _as_batch(operations, codes)
    if not items:
        return None
    session = db_session()
    kept = _session_state(session)
    try:
        with session.begin_nested():
            done = apply_batch(hr_context(), items)
    except Exception:  # noqa: BLE001 - one by one, each with its own answer
        session.info.clear()
        session.info.update(kept)
        return None
    ids = [r["id"] for r in done["items"] if r["op"] == "create_person"]
    base = request.host_url.rstrip("/") + PREFIX
    wanted = select(Person.id, Person.version).where(Person.id.in_([uuid.UUID(i) for i in ids]))
    # One query: the batch wrote them set-based, not as tracked objects.
    versions = {pid: version for pid, version in session.execute(wanted)}
    results = []
    for op, person_id in zip(operations, ids, strict=True):
        entry = {"method": "POST", "status": "201", "location": f"{base}/Users/{person_id}"}
        if op.get("bulkId"):
            entry["bulkId"] = op["bulkId"]
        entry["version"] = weak_etag(versions.get(uuid.UUID(person_id), 1))
        results.append(entry)
    return results


@bp.post("/Bulk")
@guarded(WRITE)
def bulk() -> Response:
    if (request.content_length or 0) > MAX_BULK_BYTES:
        raise PayloadTooLargeException(
            detail=f"A bulk request holds at most {MAX_BULK_BYTES} bytes."
        )
    payload = body()
    if BULK_REQUEST not in payload.get("schemas", []):
        raise InvalidSyntaxException(detail=f"schemas must name {BULK_REQUEST}.")
    operations = payload.get("Operations")
    if not isinstance(operations, list):
        raise InvalidSyntaxException(detail="Operations must be a list.")
    if len(operations) > MAX_BULK_OPERATIONS:
        raise TooManyException(detail=f"At most {MAX_BULK_OPERATIONS} operations per request.")
    fail_on = payload.get("failOnErrors")
    session = db_session()
    created: dict[str, str] = {}
    codes: writes.Codes = {}
    at_once = _all_at_once(operations, codes)
    if at_once is not None:
        session.commit()
        return respond({"schemas": [BULK_RESPONSE], "Operations": at_once})
    results, failures = [], 0
    base = request.host_url.rstrip("/") + bp.url_prefix  # type: ignore[operator]
    for op in operations:
        if not isinstance(op, dict):
            raise InvalidSyntaxException(detail="Each operation is an object.")
        entry: dict[str, Any] = {"method": str(op.get("method", "")).upper()}
        if op.get("bulkId"):
            entry["bulkId"] = op["bulkId"]
        kept = _session_state(session)
        try:
            with session.begin_nested():
                status, person, location = _apply(op, created, codes)
            entry.update(status=str(status), location=base + (location or ""))
            if person is not None and status != 204:
                entry["version"] = weak_etag(person.version)
        except Exception as exc:  # noqa: BLE001 - each operation fails on its own
            # What the transaction keeps beside the rows (the audit chain's head, the
            # outbox's pending jobs) goes back to before the operation, as the rows did.
            session.info.clear()
            session.info.update(kept)
            code, detail, scim_type = as_error(exc)
            if isinstance(exc, StaleDataError):
                code, detail, scim_type = 412, "The resource changed meanwhile.", None
            elif isinstance(exc, IntegrityError):
                code, detail, scim_type = 409, "Conflicts with a concurrent change.", "uniqueness"
            entry.update(status=str(code), response=error_body(code, detail, scim_type))
            failures += 1
        results.append(entry)
        if isinstance(fail_on, int) and fail_on > 0 and failures >= fail_on:
            break
    try:
        session.commit()
    except (StaleDataError, IntegrityError):
        session.rollback()
        raise
    return respond({"schemas": [BULK_RESPONSE], "Operations": results})
