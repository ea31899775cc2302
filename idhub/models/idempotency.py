"""Responses to POSTs sent with an Idempotency-Key, so a retried request is answered, not redone."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow
from idhub.models.sealed import Sealed


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_record"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2048))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    # Sealed: a replayed response may be a person with their CCCD and date of birth.
    response_body: Mapped[str] = mapped_column(Sealed("idempotency_record.response_body"))
    location: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (UniqueConstraint("client_id", "key", name="uq_idempotency_client_key"),)
