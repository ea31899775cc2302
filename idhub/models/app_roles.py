"""Ủy quyền quyền ứng dụng: a person hands their roles in one app to a deputy for a period."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class AppDelegation(Base):
    """The delegator's roles in `app` (all when `roles` is empty; only those held in
    `unit_code` when set) go to the deputy from start to end (inclusive). Claims are
    computed with the date, so it switches on and off by itself; the daily sweep marks
    `started_at` / `ended_at` and queues the deputy's change events."""

    __tablename__ = "app_delegation"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    delegator_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    deputy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    app: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    unit_code: Mapped[str | None] = mapped_column(String(64))
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    def active_on(self, day: dt.date) -> bool:
        return self.revoked_at is None and self.start_date <= day <= self.end_date
