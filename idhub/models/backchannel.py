"""Back-channel logouts still to deliver: one row per (ended hub session, app).

Written with the transaction that ends the session, beside the outbox job that delivers
them (target `backchannel_logout`, subject = the session); deleted once the app has
answered. The logout token is signed at delivery time, so a retry sends a fresh one.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class BackchannelNotice(Base):
    __tablename__ = "backchannel_logout"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    client_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("session_id", "client_id"),)


__all__ = ["BackchannelNotice"]
