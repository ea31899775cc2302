"""Administrative grants: a role held over a unit subtree (or the whole province), by hand.

Grants by rule (a post such as a commune's personnel officer) are not stored: they are
read from the rules file and the posts held today (idhub/admin_scope/grants.py), so they
appear and disappear with the post.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Date, ForeignKey, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class AdminGrant(Base):
    """`role` over the subtree of `unit_id` (NULL: the whole province), for a person, from
    `valid_from` to `valid_to` (inclusive; NULL: open-ended). `client_id` is reserved:
    an API client is limited by its own `subtree_unit_id` today, not by grants."""

    __tablename__ = "admin_grant"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    client_id: Mapped[str | None] = mapped_column(ForeignKey("oauth_client.client_id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_to: Mapped[dt.date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(Text)
    granted_by: Mapped[str] = mapped_column(String(128))  # "person:<id>", "client:<id>", "cli"
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint("(person_id IS NULL) <> (client_id IS NULL)", name="one_subject"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_range"),
    )
