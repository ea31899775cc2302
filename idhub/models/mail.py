"""Mail state the hub owns: the addresses it gave each person (old ones included) and
mailbox delegations."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Date, ForeignKey, Integer, String, Text, Uuid
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


class MailDelegation(Base):
    """Ủy quyền: the owner lets the deputy into the owner's mailbox from start to end
    (inclusive). The mail target turns the delegations running today into Dovecot ACLs
    on the owner's mailbox, and removes them when they end, by itself (daily sweep)."""

    __tablename__ = "mail_delegation"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    deputy_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    def active_on(self, day: dt.date) -> bool:
        return self.start_date <= day <= self.end_date
