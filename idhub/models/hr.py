"""The personnel (HR) data: the source of truth everything else is derived from."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from idhub.models.base import Base, UTCDateTime, time_ordered_uuid, utcnow
from idhub.models.sealed import BlindIndex, Sealed, index_default


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
    )


class UnitType(enum.StrEnum):
    PROVINCE_COMMITTEE = "province_committee"  # UBND tỉnh / thành phố
    PROVINCE_COUNCIL = "province_council"  # HĐND tỉnh
    DEPARTMENT = "department"  # sở, ban, ngành
    DEPARTMENT_DIVISION = "department_division"  # phòng, chi cục thuộc sở
    COMMUNE_COMMITTEE = "commune_committee"  # UBND xã / phường / đặc khu
    DISTRICT_COMMITTEE = "district_committee"  # UBND huyện (before the 2025 reform)
    PUBLIC_SERVICE_UNIT = "public_service_unit"  # đơn vị sự nghiệp công lập
    OTHER = "other"


class UnitStatus(enum.StrEnum):
    ACTIVE = "active"
    MERGED = "merged"
    SPLIT = "split"
    DISSOLVED = "dissolved"


class LineageKind(enum.StrEnum):
    MERGED_INTO = "merged_into"
    SPLIT_INTO = "split_into"
    SUCCEEDED_BY = "succeeded_by"  # dissolved, people went to this unit


class PersonStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    LEFT = "left"


class AssignmentKind(enum.StrEnum):
    PRIMARY = "primary"
    CONCURRENT = "concurrent"  # kiêm nhiệm


class OrgUnit(Base):
    __tablename__ = "org_unit"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(255))
    short_name: Mapped[str | None] = mapped_column(String(100))
    # Folded lower-case name and short name, for accent-insensitive search.
    search_name: Mapped[str] = mapped_column(String(400), index=True, default="")
    type: Mapped[UnitType] = mapped_column(_enum(UnitType, "unit_type"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    mail_domain: Mapped[str | None] = mapped_column(String(253))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[UnitStatus] = mapped_column(
        _enum(UnitStatus, "unit_status"), default=UnitStatus.ACTIVE
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    parent: Mapped[OrgUnit | None] = relationship(remote_side=[id], lazy="raise_on_sql")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # An official code names one active unit; retired units keep theirs for history.
        Index(
            "uq_org_unit_active_code",
            "code",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_range"),
    )


class OrgUnitLineage(Base):
    """Where a unit went: merged into, split into, succeeded by. Written by reorganisations."""

    __tablename__ = "org_unit_lineage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), index=True)
    successor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), index=True)
    kind: Mapped[LineageKind] = mapped_column(_enum(LineageKind, "lineage_kind"))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    decision_ref: Mapped[str | None] = mapped_column(String(255))
    change_set_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("change_set.id"), index=True)


class Person(Base):
    __tablename__ = "person"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=time_ordered_uuid)
    # CCCD, sealed (idhub/models/sealed.py); found and kept unique by its blind index.
    national_id: Mapped[str] = mapped_column(Sealed("person.national_id"))
    national_id_index: Mapped[str] = mapped_column(BlindIndex(), unique=True, default=index_default)
    civil_servant_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    family_name: Mapped[str] = mapped_column(String(100))
    middle_name: Mapped[str] = mapped_column(String(100), default="")
    given_name: Mapped[str] = mapped_column(String(100))
    # The hub-issued identifier (uid, mail local part): allocated once, never reused.
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Lower-case, diacritics folded (đ → d): "nguyen van an". Kept for search.
    search_name: Mapped[str] = mapped_column(String(320), index=True)
    date_of_birth: Mapped[dt.date | None] = mapped_column(Sealed("person.date_of_birth", date=True))
    personal_email: Mapped[str | None] = mapped_column(Sealed("person.personal_email"))
    personal_phone: Mapped[str | None] = mapped_column(Sealed("person.personal_phone"))
    status: Mapped[PersonStatus] = mapped_column(
        _enum(PersonStatus, "person_status"), default=PersonStatus.ACTIVE
    )
    # Whose administrators see the record while the person holds no post: the unit of
    # the subtree-limited officer who recorded them (NULL: recorded province-wide).
    owner_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @validates("national_id")
    def _index_national_id(self, _key: str, value: str) -> str:
        # Hashed by its type when written: until reloaded, the attribute holds the CCCD
        # itself, so read the index only from the database (or via identity.personal).
        self.national_id_index = value
        return value

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.family_name, self.middle_name, self.given_name) if p)


class Position(Base):
    """Chức vụ / chức danh: what a person holds in a unit."""

    __tablename__ = "position"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    # 0 = staff; higher = more senior leadership (1 deputy head of division … 5 chairman).
    leadership_level: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("leadership_level BETWEEN 0 AND 9", name="leadership_level_range"),
    )


class Assignment(Base):
    """Person × unit × position over a period; primary or concurrent (kiêm nhiệm)."""

    __tablename__ = "assignment"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=time_ordered_uuid)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), index=True)
    position_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("position.id"), index=True)
    kind: Mapped[AssignmentKind] = mapped_column(_enum(AssignmentKind, "assignment_kind"))
    start_date: Mapped[dt.date] = mapped_column(Date)
    # Last day in the post (inclusive); NULL while open-ended.
    end_date: Mapped[dt.date | None] = mapped_column(Date)
    decision_ref: Mapped[str | None] = mapped_column(String(255))  # số quyết định
    end_decision_ref: Mapped[str | None] = mapped_column(String(255))
    end_reason: Mapped[str | None] = mapped_column(Text)
    # The reorganisation (change set) that started / ended the post, when one did.
    start_change_set_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    end_change_set_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    person: Mapped[Person] = relationship(lazy="raise_on_sql")
    unit: Mapped[OrgUnit] = relationship(lazy="raise_on_sql")
    position: Mapped[Position] = relationship(lazy="raise_on_sql")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint("end_date IS NULL OR end_date >= start_date", name="date_range"),
        # Backstop for the overlap check in the service layer: one open primary post.
        Index(
            "uq_assignment_open_primary",
            "person_id",
            unique=True,
            sqlite_where=text("kind = 'primary' AND end_date IS NULL"),
            postgresql_where=text("kind = 'primary' AND end_date IS NULL"),
        ),
    )

    def is_active_on(self, day: dt.date) -> bool:
        return self.start_date <= day and (self.end_date is None or self.end_date >= day)

    @property
    def active(self) -> bool:
        return self.is_active_on(dt.date.today())
