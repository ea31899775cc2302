"""SCIM filters (parsed by scim2-models) → SQL over the HR tables, and sortBy → a column.

Only what maps onto a column or a post is accepted; anything else is a 400 invalidFilter,
never a silent "match nothing". Strings compare case-insensitively (RFC 7643 §2.1); names
through the folded `search_name` also ignore Vietnamese diacritics."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from scim2_models import InvalidFilterException, InvalidValueException, ScimFilter
from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterVisitor,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import ColumnElement, and_, exists, false, func, not_, or_, select, true

from idhub.identity.personal import cccd_clause
from idhub.models import Assignment, OrgUnit, Person, PersonStatus
from idhub.scim.models import ENTERPRISE_USER, IDHUB_USER, HubUser
from provisioning.naming import search_key

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
Op = CompareOperator


def _key(path: AttrPath) -> str:
    uri = (path.uri or CORE).lower()
    name = path.attr.lower() + (f".{path.sub_attr.lower()}" if path.sub_attr else "")
    return f"{uri}:{name}"


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text(column: Any, op: Op, value: Any, fold: Callable[[str], str] = str.lower) -> Any:
    """A string comparison; `column` already holds folded (lower-cased) text."""
    if not isinstance(value, str):
        raise InvalidFilterException(detail=f"A string is expected, not {value!r}.")
    v = fold(value)
    if op is Op.eq:
        return column == v
    if op is Op.ne:
        return or_(column != v, column.is_(None))
    if op in (Op.co, Op.sw, Op.ew):
        pattern = {Op.co: "%{}%", Op.sw: "{}%", Op.ew: "%{}"}[op].format(_like(v))
        return column.like(pattern, escape="\\")
    return {Op.gt: column > v, Op.ge: column >= v, Op.lt: column < v, Op.le: column <= v}[op]


def _when(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        moment = value
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidFilterException(
                detail=f"Không phải ngày giờ: {value!r}. / Not a date-time: {value!r}."
            ) from exc
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _moment(column: Any, op: Op, value: Any) -> Any:
    if op not in (Op.eq, Op.ne, Op.gt, Op.ge, Op.lt, Op.le):
        raise InvalidFilterException(detail=f"{op.value} does not apply to a date-time.")
    v = _when(value)
    return {
        Op.eq: column == v, Op.ne: column != v, Op.gt: column > v,
        Op.ge: column >= v, Op.lt: column < v, Op.le: column <= v,
    }[op]  # fmt: skip


def _last_modified(op: Op, value: Any) -> Any:
    """A person changed after t when the record or any post did: later than t for gt/ge,
    neither later for lt/le (so the two halves of an incremental sync never overlap)."""
    person = _moment(Person.updated_at, op, value)
    post = exists().where(
        Assignment.person_id == Person.id, _moment(Assignment.updated_at, op, value)
    )
    if op in (Op.gt, Op.ge):
        return or_(person, post)
    if op in (Op.lt, Op.le):
        later = {Op.lt: Op.ge, Op.le: Op.gt}[op]
        newer = exists().where(
            Assignment.person_id == Person.id, _moment(Assignment.updated_at, later, value)
        )
        return and_(person, not_(newer))
    return person


def _current_post(*where: Any) -> Any:
    today = dt.date.today()
    return exists().where(
        Assignment.person_id == Person.id,
        Assignment.start_date <= today,
        or_(Assignment.end_date.is_(None), Assignment.end_date >= today),
        Assignment.unit_id.in_(select(OrgUnit.id).where(*where)),
    )


def _active(op: Op, value: Any) -> Any:
    if not isinstance(value, bool) or op not in (Op.eq, Op.ne):
        raise InvalidFilterException(detail="active takes eq or ne with true or false.")
    is_active = Person.status == PersonStatus.ACTIVE
    return is_active if (op is Op.eq) == value else not_(is_active)


def _email(op: Op, value: Any) -> Any:
    """The hub's address is <username>@<domain>: compared on the local part."""
    if not isinstance(value, str) or op not in (Op.eq, Op.sw, Op.co):
        raise InvalidFilterException(detail="emails takes eq, sw or co with a string.")
    local = value.split("@", 1)[0] if op is Op.eq else value
    return _text(func.lower(Person.username), op, local)


def _name(op: Op, value: Any) -> Any:
    return _text(Person.search_name, op, value, fold=search_key)


# attribute → (comparison, column for `pr`). The key is "<schema urn>:<attr>[.<sub>]", lower.
Compare = Callable[[Op, Any], Any]
C, ENT, HUB = CORE.lower(), ENTERPRISE_USER.lower(), IDHUB_USER.lower()


def _lower(column: Any) -> tuple[Compare, Any]:
    """A string column compared case-insensitively."""
    return (lambda op, v: _text(func.lower(column), op, v)), column


def _unit(column: Any) -> tuple[Compare, Any]:
    """A post held today in a unit whose `column` matches."""
    return (lambda op, v: _current_post(_text(func.lower(column), op, v))), None


_ATTRIBUTES: dict[str, tuple[Compare, Any]] = {
    f"{C}:id": (lambda op, v: _id(op, v), Person.id),
    f"{C}:username": _lower(Person.username),
    f"{C}:displayname": (_name, Person.search_name),
    f"{C}:name.formatted": (_name, Person.search_name),
    f"{C}:name.familyname": _lower(Person.family_name),
    f"{C}:name.givenname": _lower(Person.given_name),
    f"{C}:name.middlename": _lower(Person.middle_name),
    f"{C}:active": (_active, Person.status),
    f"{C}:emails": (_email, Person.username),
    f"{C}:emails.value": (_email, Person.username),
    f"{C}:meta.lastmodified": (_last_modified, Person.updated_at),
    f"{C}:meta.created": (lambda op, v: _moment(Person.created_at, op, v), Person.created_at),
    f"{ENT}:employeenumber": _lower(Person.civil_servant_code),
    f"{ENT}:department": _unit(OrgUnit.name),
    f"{HUB}:unitcode": _unit(OrgUnit.code),
}
_UNQUALIFIED = {key.rsplit(":", 1)[1]: key for key in _ATTRIBUTES if not key.startswith(C)}


def _id(op: Op, value: Any) -> Any:
    try:
        wanted = uuid.UUID(str(value))
    except ValueError:
        return false() if op is Op.eq else true()
    if op not in (Op.eq, Op.ne):
        raise InvalidFilterException(detail="id takes eq or ne.")
    return Person.id == wanted if op is Op.eq else Person.id != wanted


def _unsupported(path: AttrPath) -> InvalidFilterException:
    return InvalidFilterException(
        detail=f"Không lọc được theo {path}. / Filtering on {path} is not supported."
    )


class SqlFilter(FilterVisitor[Any]):
    """One filter tree → one WHERE clause over `person`."""

    def __init__(self, personal: bool) -> None:
        self.personal = personal

    def _resolve(self, path: AttrPath) -> str:
        key = _key(path)
        if key not in _ATTRIBUTES and path.uri is None:
            key = _UNQUALIFIED.get(key.rsplit(":", 1)[1], key)
        return key

    def visit_comparison(self, node: Comparison) -> Any:
        key = self._resolve(node.attr_path)
        if key == f"{HUB}:nationalid":
            return self._cccd(node)
        if key not in _ATTRIBUTES:
            raise _unsupported(node.attr_path)
        return _ATTRIBUTES[key][0](node.op, node.value)

    def _cccd(self, node: Comparison) -> Any:
        # Finding someone by CCCD is itself a personal-data lookup: scim:personal only.
        if not self.personal or node.op is not Op.eq or not isinstance(node.value, str):
            raise InvalidFilterException(
                detail="Lọc theo CCCD chỉ với eq và quyền scim:personal. / "
                "nationalId takes eq only, and only with the scim:personal scope."
            )
        return cccd_clause(node.value)

    def visit_present(self, node: Present) -> Any:
        key = self._resolve(node.attr_path)
        if key not in _ATTRIBUTES:
            raise _unsupported(node.attr_path)
        column = _ATTRIBUTES[key][1]
        if column is None:
            return _current_post(true())
        if key.endswith(":active"):
            return true()
        return (
            and_(column.is_not(None), func.length(column) > 0)
            if key.endswith(("name", "number", "username", "emails", "emails.value", "middlename"))
            else column.is_not(None)
        )

    def visit_not(self, node: Not) -> Any:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> Any:
        terms = [self.visit(t) for t in node.terms]
        return and_(*terms) if node.op is LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> Any:
        # emails[type eq "work" and value co "x"]: only `value` means something here.
        if node.attr_path.attr.lower() != "emails":
            raise InvalidFilterException(detail=f"{node.attr_path}[…] is not supported.")
        return _EmailsInside(self.personal).visit(node.val_filter)


class _EmailsInside(SqlFilter):
    def _resolve(self, path: AttrPath) -> str:
        name = path.attr.lower()
        if name == "type":
            return "type"
        return f"{CORE.lower()}:emails.value" if name == "value" else name

    def visit_comparison(self, node: Comparison) -> Any:
        if self._resolve(node.attr_path) == "type":
            work = isinstance(node.value, str) and node.value.lower() == "work"
            return true() if (node.op is Op.eq) == work else false()
        return super().visit_comparison(node)


def where(text: str, personal: bool) -> ColumnElement[bool]:
    """The WHERE clause of a `filter=` query parameter (400 invalidFilter when refused)."""
    if len(text) > 4000:
        raise InvalidFilterException(detail="The filter is longer than 4000 characters.")
    parsed = ScimFilter[HubUser](text)  # syntax, and values against the attributes' types
    return SqlFilter(personal).visit(parsed.ast)


_SORTS: dict[str, Any] = {
    "username": Person.username,
    "displayname": Person.search_name,
    "name.formatted": Person.search_name,
    "name.familyname": Person.family_name,
    "name.givenname": Person.given_name,
    "meta.created": Person.created_at,
    "meta.lastmodified": Person.updated_at,
    "employeenumber": Person.civil_servant_code,
    "id": Person.id,
}


def sort_column(sort_by: str) -> Any:
    name = sort_by.lower()
    for prefix in (CORE.lower() + ":", ENT + ":"):
        name = name.removeprefix(prefix)
    if name not in _SORTS:
        raise InvalidValueException(
            detail=f"Không sắp xếp được theo {sort_by!r}. / sortBy {sort_by!r} is not supported."
        )
    return _SORTS[name]
