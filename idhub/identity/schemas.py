"""The HR bodies of the REST API (org units, people, positions, assignments)."""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate

from idhub.models import AssignmentKind, PersonStatus, UnitStatus, UnitType
from idhub.web.schemas import CODE, DOMAIN, Text


def _past_date(value: dt.date) -> None:
    if value > dt.date.today() or value < dt.date(1900, 1, 1):
        raise ValidationError("Must be a date between 1900-01-01 and today.")


# -- Org units ---------------------------------------------------------------------------
class OrgUnitSchema(Schema):
    id = fields.UUID(dump_only=True)
    code = fields.String(required=True, validate=CODE)
    name = Text(required=True)
    short_name = Text(max_length=100, allow_none=True)
    type = fields.Enum(UnitType, by_value=True, required=True)
    parent_id = fields.UUID(allow_none=True)
    mail_domain = fields.String(allow_none=True, validate=DOMAIN)
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(allow_none=True)
    status = fields.Enum(UnitStatus, by_value=True, dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class OrgUnitPatchSchema(Schema):
    code = fields.String(validate=CODE)
    name = Text()
    short_name = Text(max_length=100, allow_none=True)
    type = fields.Enum(UnitType, by_value=True)
    parent_id = fields.UUID(allow_none=True)
    mail_domain = fields.String(allow_none=True, validate=DOMAIN)
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)


class OrgUnitQuerySchema(Schema):
    code = Text(max_length=32)
    type = fields.Enum(UnitType, by_value=True)
    status = fields.Enum(UnitStatus, by_value=True)
    parent_id = fields.UUID()
    q = Text(max_length=100, metadata={"description": "Name contains (accents ignored)."})


# -- People ---------------------------------------------------------------------------------
NATIONAL_ID = validate.Regexp(r"^[0-9]{12}$", error="The CCCD number has exactly 12 digits.")
CIVIL_SERVANT_CODE = validate.Regexp(r"^[A-Za-z0-9._-]{1,32}$", error="1–32 letters or digits.")
PHONE = validate.Regexp(r"^\+?[0-9][0-9 .-]{7,19}$", error="A phone number such as 0912345678.")


class PersonSchema(Schema):
    id = fields.UUID(dump_only=True)
    national_id = fields.String(required=True, validate=NATIONAL_ID)
    civil_servant_code = fields.String(allow_none=True, validate=CIVIL_SERVANT_CODE)
    family_name = Text(required=True, max_length=100)
    middle_name = Text(max_length=100, allow_blank=True, load_default="")
    given_name = Text(required=True, max_length=100)
    full_name = fields.String(dump_only=True)
    username = fields.String(
        dump_only=True, metadata={"description": "Issued once by the hub; never reused."}
    )
    date_of_birth = fields.Date(allow_none=True, validate=_past_date)
    personal_email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    personal_phone = fields.String(allow_none=True, validate=PHONE)
    status = fields.Enum(PersonStatus, by_value=True, load_default=PersonStatus.ACTIVE)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class PersonPatchSchema(Schema):
    national_id = fields.String(validate=NATIONAL_ID)
    civil_servant_code = fields.String(allow_none=True, validate=CIVIL_SERVANT_CODE)
    family_name = Text(max_length=100)
    middle_name = Text(max_length=100, allow_blank=True)
    given_name = Text(max_length=100)
    date_of_birth = fields.Date(allow_none=True, validate=_past_date)
    personal_email = fields.Email(allow_none=True, validate=validate.Length(max=254))
    personal_phone = fields.String(allow_none=True, validate=PHONE)
    status = fields.Enum(PersonStatus, by_value=True)


class PersonQuerySchema(Schema):
    q = Text(max_length=100, metadata={"description": "Name contains; accents ignored."})
    status = fields.Enum(PersonStatus, by_value=True)
    unit_id = fields.UUID(metadata={"description": "People with a current assignment here."})
    national_id = fields.String(validate=NATIONAL_ID)
    civil_servant_code = fields.String(validate=CIVIL_SERVANT_CODE)


# -- Positions ------------------------------------------------------------------------------
class PositionSchema(Schema):
    id = fields.UUID(dump_only=True)
    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z0-9_]{1,64}$"))
    name = Text(required=True)
    leadership_level = fields.Integer(load_default=0, validate=validate.Range(0, 9))
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class PositionPatchSchema(Schema):
    code = fields.String(validate=validate.Regexp(r"^[A-Z0-9_]{1,64}$"))
    name = Text()
    leadership_level = fields.Integer(validate=validate.Range(0, 9))


class PositionQuerySchema(Schema):
    code = Text(max_length=64)


# -- Assignments ----------------------------------------------------------------------------
class AssignmentSchema(Schema):
    id = fields.UUID(dump_only=True)
    person_id = fields.UUID(required=True)
    unit_id = fields.UUID(required=True)
    position_id = fields.UUID(required=True)
    kind = fields.Enum(AssignmentKind, by_value=True, required=True)
    start_date = fields.Date(required=True)
    end_date = fields.Date(allow_none=True)
    decision_ref = Text(allow_none=True, metadata={"description": "Số quyết định."})
    end_decision_ref = Text(dump_only=True, allow_none=True)
    end_reason = fields.String(dump_only=True, allow_none=True)
    active = fields.Boolean(dump_only=True)
    version = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class AssignmentPatchSchema(Schema):
    position_id = fields.UUID()
    kind = fields.Enum(AssignmentKind, by_value=True)
    start_date = fields.Date()
    decision_ref = Text(allow_none=True)


class AssignmentEndSchema(Schema):
    end_date = fields.Date(required=True, metadata={"description": "Last day in the post."})
    decision_ref = Text(allow_none=True)
    reason = Text(allow_none=True, max_length=1000)


class AssignmentQuerySchema(Schema):
    person_id = fields.UUID()
    unit_id = fields.UUID()
    position_id = fields.UUID()
    kind = fields.Enum(AssignmentKind, by_value=True)
    active_on = fields.Date(metadata={"description": "Only assignments running on this day."})
