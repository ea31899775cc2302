"""Mail state the hub owns: the addresses it gave each person, old ones included."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class MailAddress(Base):
    """An address the hub made a person's primary one, once (never given to anyone else).

    `superseded_on` is the day another address became primary (None: still primary).
    Policy keeps superseded addresses as aliases for a configured period, so mail to
    the old address of a renamed domain or a moved person still arrives.
    """

    __tablename__ = "mail_address"

    address: Mapped[str] = mapped_column(String(320), primary_key=True)  # lower case
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    first_used_on: Mapped[dt.date] = mapped_column(Date)
    superseded_on: Mapped[dt.date | None] = mapped_column(Date)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
