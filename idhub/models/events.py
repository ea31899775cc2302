"""Signed change events to the apps (issue 19): who subscribes, what each app was last
told about each person, and the events an app refused until the last attempt.

* `event_subscription`: one per sign-on client that takes events — the URL, the event
  types, the Standard Webhooks secret (encrypted with the hub's key; shown once).
* `event_state`: per (app, person) the projection last delivered and its sequence
  number; the events worker converges the person's current projection against it, so a
  burst of HR changes yields the net event(s), never a replay.
* `event_dead_letter`: events an app refused `max_attempts` times; the pair is held
  (`event_state.dead`) until an admin retries it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class EventSubscription(Base):
    __tablename__ = "event_subscription"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    types: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventState(Base):
    __tablename__ = "event_state"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    # What the app was last told (None: the person is not among its users).
    projection: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    dead: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventDeadLetter(Base):
    __tablename__ = "event_dead_letter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    type: Mapped[str] = mapped_column(String(32))
    seq: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["EventDeadLetter", "EventState", "EventSubscription"]
