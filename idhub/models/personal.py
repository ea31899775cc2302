"""Who read whose personal data (Nghị định 13/2023/NĐ-CP): one row per person per read.

Not in the audit chain: the chain takes a lock per event and a list of 100 people read
by an officer would cost 100 chained events on a GET. This table is append-only (a
trigger refuses UPDATE and DELETE, as on audit_event), written with one multi-row INSERT
per read, and read back per person (most recent first) on their account page."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class PersonalRead(Base):
    __tablename__ = "personal_read"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"))
    actor_type: Mapped[str] = mapped_column(String(16))  # client | person | cli | system
    actor_id: Mapped[str | None] = mapped_column(String(128))
    door: Mapped[str] = mapped_column(String(32))  # api, console, scim, national_export…
    fields: Mapped[str] = mapped_column(String(200))  # comma-separated field names
    request_id: Mapped[str | None] = mapped_column(String(64))
    source_ip: Mapped[str | None] = mapped_column(String(45))

    __table_args__ = (Index("ix_personal_read_person_at", "person_id", "at"),)
