"""Mail state the hub owns: the addresses it gave each person (old ones included),
mailbox delegations and seat mailboxes."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


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


class Seat(Base):
    """A seat mailbox (hộp thư theo chức danh): the mailbox of a post — a position in a
    unit — read by whoever holds the post today. Its id is
    provisioning.seats.seat_key(unit, code); `uid` (the address's local part and the
    directory entry's uid) is chosen once and never given to anything else. The rest
    is how its last converge on the mail target went, as an account link says for a
    person.

    A seat converges in two steps (engine/targets/seats.py); the `entry_*` columns hand
    the first's outcome to the second. The directory target, recording a converge of
    the entry, adds the kinds of operation it applied to `entry_ops` and increments
    `entry_version`; the mail target, recording the mailbox, reports them (the seat's
    one audit event), then empties `entry_ops` and sets `entry_reported` to the version
    it read — only if `entry_version` is still that one, so an entry converge recorded
    meanwhile is reported by the next mail job. `entry_version > entry_reported`: an
    entry converge is waiting for its mailbox step."""

    __tablename__ = "seat"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("org_unit.id"), index=True)
    position_code: Mapped[str] = mapped_column(String(64))
    uid: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # LinkState values
    dn: Mapped[str | None] = mapped_column(String(1024))
    enabled: Mapped[bool | None] = mapped_column()
    holders: Mapped[list[str]] = mapped_column(JSON, default=list)  # granted at the last converge
    last_error: Mapped[str | None] = mapped_column(Text)
    last_converged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    entry_ops: Mapped[list[str]] = mapped_column(JSON, default=list)  # OpKind values, unreported
    entry_version: Mapped[int] = mapped_column(Integer, default=0)  # entry converges recorded
    entry_reported: Mapped[int] = mapped_column(Integer, default=0)  # the last one reported

    __table_args__ = (UniqueConstraint("unit_id", "position_code", name="uq_seat_unit_position"),)
