"""Spreadsheet imports checked and waiting for their uploader's confirmation.

The checked rows stay here, not in a form, so what is confirmed is exactly what was
previewed (the digest) and by whom (the owner); they expire unconfirmed, and once applied
only the outcome is kept (the rows, personal data, are dropped)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class ImportUpload(Base):
    __tablename__ = "import_upload"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)  # the uploader, the owner
    filename: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical rows
    rows: Mapped[list[Any] | None] = mapped_column(JSON)  # [row number, raw values] pairs
    row_count: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | applied
    people: Mapped[list[str] | None] = mapped_column(JSON)  # ids created, once applied
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
