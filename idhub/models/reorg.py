"""Reorganisations: change sets (a legal decision's unit operations) and what they moved."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, Date, Enum, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class ChangeSetState(enum.StrEnum):
    DRAFT = "draft"  # being prepared; checked and previewed as often as wanted
    SCHEDULED = "scheduled"  # applied by the daily sweep on the effective date
    APPLIED = "applied"
    CANCELLED = "cancelled"


class ChangeSet(Base):
    """A reorganisation ordered by one legal decision, applied as one transaction."""

    __tablename__ = "change_set"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    # The decision that orders it, e.g. "1670/NQ-UBTVQH15", 16/06/2025, "Ủy ban Thường vụ Quốc hội".
    decision_number: Mapped[str] = mapped_column(String(100))
    decision_date: Mapped[dt.date] = mapped_column(Date)
    decision_issuer: Mapped[str] = mapped_column(String(255))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    # The unit operations as written (merge / split / move / dissolve / rename).
    operations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    state: Mapped[ChangeSetState] = mapped_column(
        Enum(
            ChangeSetState,
            name="change_set_state",
            native_enum=False,
            create_constraint=True,
            validate_strings=True,
            length=16,
            values_callable=lambda members: [m.value for m in members],
        ),
        default=ChangeSetState.DRAFT,
    )
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A subtree administrator's draft: the root of their subtree (NULL: the province's).
    owner_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    # Counts written at apply (units created / retired / moved, people moved, posts).
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def reason(self) -> str:
        """What audit events and converge jobs of this change set say about why."""
        return f"{self.decision_number}: {self.title}"


class ChangeSetPerson(Base):
    """A person whose posts or place an applied change set changed (progress, history)."""

    __tablename__ = "change_set_person"

    change_set_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("change_set.id"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("person.id"), primary_key=True, index=True
    )


class PostHistory(Base):
    """What a post looked like before a reorganisation changed it without ending it.

    A post that starts on or after the effective date is re-pointed to its new unit
    (`kind` "repointed"); a unit renamed or recoded keeps its row, so the posts in it
    keep the old name here (`kind` "renamed"). Ended-and-restarted posts need no row:
    both halves are assignments of their own.
    """

    __tablename__ = "post_history"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    assignment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assignment.id"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    change_set_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("change_set.id"))
    kind: Mapped[str] = mapped_column(String(16))
    effective_date: Mapped[dt.date] = mapped_column(Date)
    unit_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the unit before
    unit_code: Mapped[str] = mapped_column(String(32))
    unit_name: Mapped[str] = mapped_column(String(255))
    to_unit_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
