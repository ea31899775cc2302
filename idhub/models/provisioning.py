"""Provisioning state: issued identifiers, account links per target, and the job outbox."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from idhub.models.base import Base, UTCDateTime, utcnow
from idhub.models.hr import Person, _enum


class ReservedIdentifier(Base):
    """Every identifier (uid, mail local part) ever issued: never given to anyone else."""

    __tablename__ = "reserved_identifier"

    identifier: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"), index=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Declared so the unit of work inserts the person before the name it reserves.
    person: Mapped[Person] = relationship(lazy="raise_on_sql")


class LinkState(enum.StrEnum):
    PENDING = "pending"  # a converge job is waiting
    IN_SYNC = "in_sync"
    FAILED = "failed"  # parked after too many attempts or refused by the target
    ABSENT = "absent"  # policy says no account (never created, or deleted)


class AccountLink(Base):
    """Person × target: where the account is, and how its last converge went."""

    __tablename__ = "account_link"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("person.id"))
    target: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(String(1024))  # DN as last written
    state: Mapped[LinkState] = mapped_column(_enum(LinkState, "link_state"))
    enabled: Mapped[bool | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    last_converged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("person_id", "target", name="uq_account_link_person_target"),
    )


class JobState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"  # parked: visible to the admin, retried only when asked
    HELD = "held"  # stopped by the mass-change guard until confirmed


class Urgency(enum.IntEnum):
    """How soon a job must run; a job coalesced from several changes keeps the highest."""

    BULK = 0  # joiners, quota, moves: in the order they were queued
    URGENT = 1  # cutting access (a leaver, a disable, a delegation ending): before bulk work


class ProvisioningJob(Base):
    """ "Converge subject S on target T" (transactional outbox).

    Written in the same transaction as the HR change that causes it. At most one pending
    job per subject and target: later changes coalesce into it, keeping the higher
    urgency. Urgent jobs (URGENT) are claimed ahead of bulk ones, and by a lane of their
    own (engine/worker.py), so cutting access never waits behind a backlog.
    """

    __tablename__ = "provisioning_job"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    subject_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    target: Mapped[str] = mapped_column(String(32))
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"))
    reason: Mapped[str] = mapped_column(Text)  # the latest reason
    coalesced: Mapped[int] = mapped_column(Integer, default=1)  # changes folded into it
    urgency: Mapped[int] = mapped_column(
        SmallInteger, default=int(Urgency.BULK), server_default=text("0")
    )  # Urgency
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_try_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def urgent(self) -> bool:
        """Cutting access: claimed ahead of bulk work (and by the urgent lane)."""
        return self.urgency > Urgency.BULK

    __table_args__ = (
        Index(
            "uq_provisioning_job_pending",
            "subject_id",
            "target",
            unique=True,
            sqlite_where=text("state = 'pending'"),
            postgresql_where=text("state = 'pending'"),
        ),
        Index("ix_provisioning_job_claim", "state", "next_try_at"),
        # The urgent lane's claim reads only this (urgent jobs are few): no scan of a backlog.
        Index(
            "ix_provisioning_job_urgent",
            "target",
            "next_try_at",
            sqlite_where=text("state = 'pending' AND urgency > 0"),
            postgresql_where=text("state = 'pending' AND urgency > 0"),
        ),
    )


class HubState(Base):
    """Small named values the hub keeps between runs (e.g. the last daily sweep)."""

    __tablename__ = "hub_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
