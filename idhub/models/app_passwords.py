"""App passwords: one per mail client (IMAP/SMTP cannot ask for a second factor).

The hub generates each one (random letters), shows it once and keeps only its
`{SSHA512}` hashes, the values the directory's userPassword gets (slapd checks them
when Dovecot binds as the person: docs/mail.md "App passwords"). Revoking one keeps
the row (who, when) and takes its hashes out of the directory on the next converge.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, ForeignKey, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class AppPassword(Base):
    __tablename__ = "app_password"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    # The device's name as the person gave it ("Điện thoại Android"), NFC.
    label: Mapped[str] = mapped_column(String(64))
    # The directory values: {SSHA512} of the password as typed in groups and without spaces.
    hashes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When the directory took the revocation (its hashes gone), then when the mail
    # target ended the person's mail sessions after it (Dovecot cannot tell which
    # device a session came from: all of them end; the other devices log in again).
    directory_removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    sessions_ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
