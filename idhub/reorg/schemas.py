"""Change sets as written by a province (API body, JSON or CSV file), checked at the edge.

A unit is named by its id or by its code; a unit the change set creates is named by its
new code in later operations. People in a split are named by id, username or national ID.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from idhub.models import ChangeSetState, UnitType
from idhub.web.schemas import CODE, DOMAIN, Text
from provisioning import reorg

OPS = ("merge", "split", "move", "dissolve", "rename")
UnitRef = Text(max_length=64)
MAX_OPERATIONS = 5000


class NewUnitSchema(Schema):
    code = fields.String(required=True, validate=CODE)
    name = Text(required=True)
    type = fields.Enum(UnitType, by_value=True, required=True)
    parent = Text(max_length=64, allow_none=True, load_default=None)
    mail_domain = fields.String(allow_none=True, validate=DOMAIN, load_default=None)
    short_name = Text(max_length=100, allow_none=True, load_default=None)


class UnitTarget(fields.Field):
    """An existing unit (its id or code) or a new one (an object)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return UnitRef.deserialize(value)
        if isinstance(value, dict):
            return NewUnitSchema().load(value)
        raise ValidationError("A unit id or code, or a new unit {code, name, type, …}.")

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return value


_FIELDS_OF = {
    "merge": {"sources", "into"},
    "split": {"source", "into", "people", "units", "default"},
    "move": {"unit", "parent"},
    "dissolve": {"unit", "successor"},
    "rename": {"unit", "name", "code", "short_name", "mail_domain"},
}
_REQUIRED = {
    "merge": {"sources", "into"},
    "split": {"source", "into"},
    "move": {"unit", "parent"},
    "dissolve": {"unit", "successor"},
    "rename": {"unit"},
}


class OperationSchema(Schema):
    op = fields.String(required=True, validate=validate.OneOf(OPS))
    sources = fields.List(UnitRef, validate=validate.Length(1, 1000))
    source = UnitRef
    into = fields.Raw(metadata={"description": "merge: one target; split: a list of parts."})
    people = fields.Dict(keys=Text(max_length=64), values=UnitRef)
    units = fields.Dict(keys=Text(max_length=64), values=UnitRef)
    default = UnitRef
    unit = UnitRef
    parent = UnitRef
    successor = UnitRef
    name = Text()
    code = fields.String(validate=CODE)
    short_name = Text(max_length=100)
    mail_domain = fields.String(validate=DOMAIN)

    @validates_schema
    def _shape(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("op")
        if kind not in _FIELDS_OF:
            return
        given = set(data) - {"op"}
        errors: dict[str, list[str]] = {}
        for name in sorted(given - _FIELDS_OF[kind]):
            errors[name] = [f"Not a field of {kind}."]
        for name in sorted(_REQUIRED[kind] - given):
            errors[name] = [f"Required for {kind}."]
        if "into" in data and "into" not in errors:
            target = UnitTarget()
            try:
                if kind == "split":
                    if not isinstance(data["into"], list) or len(data["into"]) < 2:
                        raise ValidationError("A list of at least two parts.")
                    data["into"] = [target.deserialize(part) for part in data["into"]]
                else:
                    data["into"] = target.deserialize(data["into"])
            except ValidationError as exc:
                # a new unit's own errors stay nested ({"code": [...]}), not a dict's repr
                errors["into"] = exc.messages  # type: ignore[assignment]
        if errors:
            raise ValidationError(errors)


class ChangeSetSchema(Schema):
    id = fields.UUID(dump_only=True)
    title = Text(required=True)
    description = Text(max_length=5000, allow_none=True)
    decision_number = Text(required=True, max_length=100)
    decision_date = fields.Date(required=True)
    decision_issuer = Text(required=True)
    effective_date = fields.Date(required=True)
    operations = fields.List(
        fields.Nested(OperationSchema), required=True, validate=validate.Length(1, MAX_OPERATIONS)
    )
    state = fields.Enum(ChangeSetState, by_value=True, dump_only=True)
    applied_at = fields.DateTime(dump_only=True, allow_none=True)
    summary = fields.Dict(dump_only=True, allow_none=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class ChangeSetPatchSchema(Schema):
    title = Text()
    description = Text(max_length=5000, allow_none=True)
    decision_number = Text(max_length=100)
    decision_date = fields.Date()
    decision_issuer = Text()
    effective_date = fields.Date()
    operations = fields.List(
        fields.Nested(OperationSchema), validate=validate.Length(1, MAX_OPERATIONS)
    )


def _new_unit(value: Any) -> str | reorg.NewUnit:
    if isinstance(value, str):
        return value
    return reorg.NewUnit(
        code=value["code"],
        name=value["name"],
        type=value["type"].value if hasattr(value["type"], "value") else value["type"],
        parent=value.get("parent"),
        mail_domain=value.get("mail_domain"),
        short_name=value.get("short_name"),
    )


def stored(operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Loaded operations as JSON for the change set row (enums and dates as text)."""
    return [_plain(op) for op in operations]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return value


def core_operations(
    operations: list[dict[str, Any]], person: Any = lambda ref: ref
) -> list[reorg.Operation]:
    """Stored operations → the pure core's objects; `person` resolves people references."""
    loaded = OperationSchema(many=True).load(operations)
    result: list[reorg.Operation] = []
    for op in loaded:
        kind = op["op"]
        if kind == "merge":
            result.append(reorg.Merge(tuple(op["sources"]), _new_unit(op["into"])))
        elif kind == "split":
            result.append(
                reorg.Split(
                    op["source"],
                    tuple(_new_unit(part) for part in op["into"]),
                    people={person(k): v for k, v in op.get("people", {}).items()},
                    units=dict(op.get("units", {})),
                    default=op.get("default"),
                )
            )
        elif kind == "move":
            result.append(reorg.Move(op["unit"], op["parent"]))
        elif kind == "dissolve":
            result.append(reorg.Dissolve(op["unit"], op["successor"]))
        else:
            result.append(
                reorg.Rename(
                    op["unit"],
                    name=op.get("name"),
                    code=op.get("code"),
                    short_name=op.get("short_name"),
                    mail_domain=op.get("mail_domain"),
                )
            )
    return result
