"""What every API endpoint shares: scopes, the write transaction, ETags, Idempotency-Key, paging."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from flask import Response, current_app, g, has_request_context, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from idhub.admin_scope import grants, visible
from idhub.admin_scope.scope import EVERYWHERE, Scope, scope_of
from idhub.changes.chain import Actor
from idhub.changes.context import HrContext
from idhub.db import db_session, get_db
from idhub.errors import Conflict, Invalid, PreconditionFailed, PreconditionRequired
from idhub.models import IdempotencyRecord
from idhub.services import current_hub
from idhub.web.bearer import (
    current_client_id,
    current_person_id,
    current_token_object,
    require_oauth,
)
from idhub.web.limits import MAX_ID
from idhub.web.schemas import CONTROL_CHARS, ErrorSchema
from provisioning.naming import nfc, search_key

READ_SCOPES = ["hr:read", "hr:write", "admin"]
WRITE_SCOPES = ["hr:write", "admin"]
AUDIT_SCOPES = ["audit:read", "admin"]
# Resetting someone's access (a security officer): not implied by hr:write nor admin.
RESET_SCOPES = ["access:reset"]

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def request_scope(scopes: list[str], ids: dict[str, Any] | None = None) -> Scope:
    """The units the request's token reaches with any of `scopes` (delegated
    administration): a person's roles over subtrees, an API client's subtree, or all.
    Objects named by `ids` (path variables) outside it raise 404 as if absent."""
    token = current_token_object()
    if token is None or (token.person_id is None and token.subtree_unit_id is None):
        return EVERYWHERE
    # Its own short read, like the token's: a view that runs its own transactions (a
    # reconcile, a preview) must not find the request's write lock already taken.
    with get_db().session(write=False) as session:
        if token.person_id is None:
            scope = scope_of(session, [token.subtree_unit_id])
        else:
            granted = set(token.get_scope().split()) & set(scopes)
            province = token.province_scopes() & granted
            scope = grants.person_scope(session, token.held(), province, granted)
        if not scope.everywhere:
            for name, value in (ids or {}).items():
                guard = visible.GUARDS.get(name)
                if guard is not None:
                    guard(session, scope, value)
        return scope


def current_scope() -> Scope:
    """The scope `scoped` worked out for this request (everywhere outside a request)."""
    return g.get("admin_scope", EVERYWHERE) if has_request_context() else EVERYWHERE


def scoped(blp: Blueprint, scopes: list[str], *, province: str | None = None) -> Callable:
    """Require a bearer token with any one of `scopes`, and say so in the OpenAPI document.

    Then the token's administrative scope is worked out, and an object named in the path
    (a person, unit, post, seat, job, …) outside it answers 404 as one that does not exist.
    With `province` (what the operation is, for the message), only a province-wide actor
    may call it at all: refused before the body is read.
    """

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def within_scope(*args: Any, **kwargs: Any) -> Any:
            g.admin_scope = request_scope(scopes, kwargs)
            if province is not None:
                g.admin_scope.require_everywhere(province)
            return view(*args, **kwargs)

        protected = require_oauth(scopes)(within_scope)
        protected = blp.doc(security=[{"oauth2": [s]} for s in scopes])(protected)
        protected = blp.alt_response(401, schema=ErrorSchema, description="No valid token.")(
            protected
        )
        return blp.alt_response(403, schema=ErrorSchema, description="Scope missing.")(protected)

    return decorator


def actor() -> Actor:
    """The client, or the person when the token was issued to one (through a sign-on app)."""
    person_id = current_person_id()
    return Actor(
        type="person" if person_id else "client",
        id=str(person_id) if person_id else current_client_id(),
        request_id=g.get("request_id"),
        source_ip=request.remote_addr,
    )


def _header_reason() -> str | None:
    """X-Change-Reason, NFC, without control characters, at most 500 characters."""
    raw = request.headers.get("X-Change-Reason", "")
    # WSGI hands headers over as latin-1; clients send Vietnamese as UTF-8 bytes.
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        raw = raw.encode("latin-1").decode("utf-8")
    text = CONTROL_CHARS.sub("", nfc(raw))[:500].strip()
    return text or None


def hr_context(reason: str | None = None) -> HrContext:
    hub = current_hub()
    return HrContext(
        session=db_session(),
        audit=hub.audit,
        actor=actor(),
        reason=reason or _header_reason(),
        naming_pattern=hub.rules.naming.pattern,
        scope=current_scope(),
    )


# -- ETag / If-Match: optimistic concurrency on the row's version counter ----------------
def etag_of(obj: Any) -> str:
    return f'"{obj.version}"'


def require_if_match(obj: Any) -> None:
    """PATCH needs the ETag the client last saw; a stale one means someone else changed it."""
    if not request.if_match:
        raise PreconditionRequired(
            "Send If-Match with the ETag from your last GET of this resource.",
            code="if_match_required",
        )
    if not request.if_match.star_tag and not request.if_match.contains(etag_of(obj).strip('"')):
        raise PreconditionFailed(
            "The resource changed since you read it; GET it again and retry.",
            code="etag_mismatch",
        )


IF_MATCH_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "If-Match",
            "required": True,
            "schema": {"type": "string"},
            "description": "ETag from the last GET of the resource (optimistic concurrency).",
        }
    ]
}
IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string", "maxLength": 255},
            "description": "A retried POST with the same key and body returns the first answer.",
        },
        {
            "in": "header",
            "name": "X-Change-Reason",
            "required": False,
            "schema": {"type": "string", "maxLength": 500},
            "description": "Why the change is made; recorded in the audit trail.",
        },
    ]
}


def with_etag(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> tuple:
    return obj, status, {"ETag": etag_of(obj), **(headers or {})}


# -- The write transaction ----------------------------------------------------------------
def _request_fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode() + b" " + request.path.encode() + b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def writes(view: Callable) -> Callable:
    """One transaction per write request: commit if the view succeeded, else nothing is written.

    With an Idempotency-Key header, the first response is stored in the same transaction
    and replayed for a retry with the same key and body.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = db_session()
        key = request.headers.get("Idempotency-Key")
        client_id = current_client_id() or "-"
        fingerprint = None
        if key is not None:
            if not _IDEMPOTENCY_KEY.match(key):
                raise Invalid(
                    "Idempotency-Key must be 1–255 printable ASCII characters.",
                    code="bad_idempotency_key",
                )
            fingerprint = _request_fingerprint()
            replay = _replay(session, client_id, key, fingerprint)
            if replay is not None:
                return replay
        try:
            response = current_app.make_response(view(*args, **kwargs))
            if key is not None and response.status_code < 400:
                session.add(
                    IdempotencyRecord(
                        client_id=client_id,
                        key=key,
                        method=request.method,
                        path=request.path,
                        request_hash=fingerprint,
                        status_code=response.status_code,
                        response_body=response.get_data(as_text=True),
                        location=response.headers.get("Location"),
                    )
                )
            session.commit()
        except StaleDataError as exc:
            session.rollback()
            raise PreconditionFailed(
                "The resource changed while this request ran; GET it again and retry.",
                code="concurrent_update",
            ) from exc
        except IntegrityError as exc:
            session.rollback()
            if key is not None:
                replay = _replay(session, client_id, key, fingerprint)
                if replay is not None:
                    return replay
            raise Conflict(
                "The change conflicts with data written at the same time; retry.",
                code="conflict",
            ) from exc
        return response

    return wrapper


def _replay(session: Session, client_id: str, key: str, fingerprint: str | None) -> Response | None:
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.client_id == client_id, IdempotencyRecord.key == key
        )
    )
    if record is None:
        return None
    if record.request_hash != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used for a different request.",
            code="idempotency_key_reused",
        )
    response = Response(
        record.response_body, status=record.status_code, mimetype="application/json"
    )
    if record.location:
        response.headers["Location"] = record.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


# -- Paging ---------------------------------------------------------------------------------
def paginate(query: Select, pagination_parameters: Any) -> list:
    """Apply flask-smorest's page / page_size to a select() and set the total for X-Pagination."""
    page, size = pagination_parameters.page, pagination_parameters.page_size
    if (page - 1) * size > MAX_ID:  # an offset no database takes: a bad value, not a 500
        abort(
            422,
            message="Some fields are missing or invalid; see errors.",
            errors={
                "query": {"page": [f"Too far: (page - 1) × page_size must not exceed {MAX_ID}."]}
            },
        )
    session = db_session()
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    pagination_parameters.item_count = total
    if (page - 1) * size >= total:
        return []
    return list(session.scalars(query.limit(size).offset((page - 1) * size)))


def where_equal(query: Select, model: Any, filters: dict[str, Any], names: Iterable[str]) -> Select:
    """Narrow `query` to rows whose columns equal the filters given among `names`."""
    for name in names:
        if name in filters:
            query = query.where(getattr(model, name) == filters[name])
    return query


def contains(column: Any, text: str) -> Any:
    """Accent- and case-insensitive "contains" on a folded search column."""
    needle = search_key(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{needle}%", escape="\\")


# -- The usual endpoint shapes, so each resource module states only what differs --------
def _stack(*decorators: Callable) -> Callable:
    def apply(view: Callable) -> Callable:
        for decorator in reversed(decorators):
            view = decorator(view)
        return view

    return apply


def read_one(blp: Blueprint, response: Any, what: str) -> Callable:
    """GET of one resource: a token with a read scope; 404 when it does not exist."""
    return _stack(
        scoped(blp, READ_SCOPES),
        blp.response(200, response),
        blp.alt_response(404, schema=ErrorSchema, description=f"No such {what}."),
    )


def create_one(
    blp: Blueprint, body: Any, response: Any, conflict: str, *, status: int = 201
) -> Callable:
    """POST to a collection (or an action, with `status` 200): one audited transaction,
    Idempotency-Key honoured."""
    return _stack(
        scoped(blp, WRITE_SCOPES),
        writes,
        blp.doc(**IDEMPOTENCY_DOC),
        blp.arguments(body),
        blp.response(status, response),
        blp.alt_response(409, schema=ErrorSchema, description=conflict),
    )


def patch_one(blp: Blueprint, body: Any, response: Any, what: str) -> Callable:
    """PATCH of one resource: If-Match required (428 without it, 412 when stale)."""
    return _stack(
        scoped(blp, WRITE_SCOPES),
        writes,
        blp.doc(**IF_MATCH_DOC),
        blp.arguments(body),
        blp.response(200, response),
        blp.alt_response(404, schema=ErrorSchema, description=f"No such {what}."),
        blp.alt_response(409, schema=ErrorSchema, description="Breaks an HR rule."),
        blp.alt_response(412, schema=ErrorSchema, description="ETag does not match."),
        blp.alt_response(428, schema=ErrorSchema, description="If-Match missing."),
    )


def list_many(
    blp: Blueprint,
    query: Any,
    response: Any,
    *,
    scopes: list[str] = READ_SCOPES,
    page_size: int = 50,
    max_page_size: int = 500,
    province: str | None = None,
) -> Callable:
    """GET of a collection: filters from the query string, paged (X-Pagination)."""
    return _stack(
        scoped(blp, scopes, province=province),
        blp.arguments(query, location="query"),
        blp.response(200, response),
        blp.paginate(page_size=page_size, max_page_size=max_page_size),
    )


# -- A whole resource: collection (list, create) and item (get, patch) -----------------------
class Docs(NamedTuple):
    """The OpenAPI summaries of a resource's four operations."""

    list: str
    create: str
    get: str
    patch: str


def _documented(view: Callable, doc: str, decorate: Callable) -> Callable:
    view.__doc__ = doc
    return decorate(view)


@dataclass(frozen=True)
class Resource:
    """An HR-style resource: its module says what it is made of, the views are the same.

    The collection lists (`listed` turns the query-string filters into a select) and
    creates; the item is read and patched under If-Match. Every write is one audited
    transaction through the wing's service functions.
    """

    blp: Blueprint
    rule: str  # the collection's rule under the blueprint's prefix ("" or "/changesets")
    item_id: str  # the item rule's variable, e.g. "unit_id"
    what: str  # "unit": in "No such unit."
    schema: type
    patch_schema: type
    query_schema: type
    page_size: int = 50

    def views(
        self,
        names: tuple[str, str],
        docs: Docs,
        *,
        listed: Callable[[dict[str, Any]], Select],
        create: Callable[[HrContext, dict[str, Any]], Any],
        conflict: str,
        fetch: Callable[[Session, Any], Any],
        update: Callable[[HrContext, Any, dict[str, Any]], Any],
        fetch_for_update: Callable[[Session, Any], Any] | None = None,
        shown: Callable[[list[Any]], None] | None = None,
    ) -> tuple[type[MethodView], type[MethodView]]:
        """Register the collection and the item views on the blueprint; return their classes.
        `shown(objects)` is told what a GET (list or item) or a PATCH returns (e.g. to
        note who read personal data)."""
        blp, location = self.blp, f"{self.blp.url_prefix or ''}{self.rule}"
        locked = fetch_for_update or fetch

        def show(objects: list[Any]) -> list[Any]:
            if shown is not None:
                shown(objects)
            return objects

        def list_(_view: MethodView, filters: dict[str, Any], pagination_parameters: Any) -> list:
            return show(paginate(listed(filters), pagination_parameters))

        def create_(_view: MethodView, data: dict[str, Any]) -> tuple:
            obj = create(hr_context(), data)
            return with_etag(obj, 201, {"Location": f"{location}/{obj.id}"})

        def get_(_view: MethodView, **ids: Any) -> tuple:
            return with_etag(show([fetch(db_session(), *ids.values())])[0])

        def patch_(_view: MethodView, changes: dict[str, Any], **ids: Any) -> tuple:
            obj = locked(db_session(), *ids.values())
            require_if_match(obj)
            return with_etag(show([update(hr_context(), obj, changes)])[0])

        one = self.schema
        listing = list_many(blp, self.query_schema, one(many=True), page_size=self.page_size)
        collection = type(
            names[0],
            (MethodView,),
            {
                "get": _documented(list_, docs.list, listing),
                "post": _documented(create_, docs.create, create_one(blp, one, one, conflict)),
            },
        )
        item = type(
            names[1],
            (MethodView,),
            {
                "get": _documented(get_, docs.get, read_one(blp, one, self.what)),
                "patch": _documented(
                    patch_, docs.patch, patch_one(blp, self.patch_schema, one, self.what)
                ),
            },
        )
        blp.route(self.rule)(collection)
        blp.route(f"{self.rule}/<uuid:{self.item_id}>")(item)
        return collection, item
