"""Passkeys (WebAuthn credentials) of people, and the one-time challenges of their ceremonies.

A passkey row holds only public material: the credential id, its COSE public key, the
authenticator's signature counter (a counter that goes back means a cloned key), the
transports the browser reported, the name the person gave it and its backup flags. A
challenge is bound to the browser's signed flow cookie (the cookie holds a random key, the
row its keyed SHA-256), lives two minutes and is consumed by the first answer, right or
wrong.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class Passkey(Base):
    __tablename__ = "person_passkey"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)  # base64url
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE_Key
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    name: Mapped[str] = mapped_column(String(64))
    aaguid: Mapped[str | None] = mapped_column(String(36))
    backup_eligible: Mapped[bool] = mapped_column(Boolean, default=False)
    backed_up: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class PasskeyChallenge(Base):
    __tablename__ = "sso_passkey_challenge"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "register" | "second" | "passwordless"
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"))
    challenge: Mapped[str] = mapped_column(String(128))  # base64url
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


__all__ = ["Passkey", "PasskeyChallenge"]
