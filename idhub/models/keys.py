"""Fingerprints of the data keys, recorded when the first node started: `idhub keys check`
tells a node with another key apart even for keys whose data cannot be opened to check
(the token hash key keeps only keyed hashes). A fingerprint is a keyed HMAC of a
constant (idhub/keyring.py `fingerprint`), never the key."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class KeyFingerprint(Base):
    __tablename__ = "key_fingerprint"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
