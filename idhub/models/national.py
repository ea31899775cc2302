"""The national exchange: its signing key, the exports made, the partners whose signed
batches are accepted and the batches received (a batch id is taken once)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow
from idhub.models.sealed import Sealed


class NationalKey(Base):
    """The key that signs exports (RSA, private PEM encrypted with the keyring's key)."""

    __tablename__ = "national_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    # A self-signed X.509 certificate of the same key: XAdES names the signer by one.
    certificate_pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class NationalExport(Base):
    """One signed export: full, or the records changed since a moment."""

    __tablename__ = "national_export"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    format: Mapped[str] = mapped_column(String(8))  # "jws" | "xml"
    since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    records: Mapped[int] = mapped_column(Integer)
    kid: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    # Sealed: the signed records hold every CCCD and date of birth (a JWS only encodes
    # them); `sha256` is of the document itself, as delivered.
    document: Mapped[str] = mapped_column(Sealed("national_export.document"))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Delivery to the province's platform ([national] push_url), when one is set.
    pushed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    push_error: Mapped[str | None] = mapped_column(Text)


class NationalPartner(Base):
    """A system whose signed batches the hub accepts: an HR system or the national side."""

    __tablename__ = "national_partner"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "hr" | "national"
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class NationalImport(Base):
    """A signed batch accepted from a partner; its id is never accepted again."""

    __tablename__ = "national_import"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("national_partner.id"))
    batch_id: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    records: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("partner_id", "batch_id", name="uq_national_import_batch"),)
