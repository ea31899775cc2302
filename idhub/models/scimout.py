"""Outbound SCIM to the apps (issue 19): which app's SCIM server the hub keeps in step,
and what each app holds of each person.

* `scim_subscription`: one per sign-on client with a SCIM endpoint — the base URL, its
  bearer token (encrypted with the hub's key, never shown back), the audience (a unit
  subtree and/or an app-role prefix) and how many days a deactivated user is kept before
  it is deleted (None: never deleted).
* `scim_state`: per (app, person) the remote user id, its ETag, the projection last sent
  (None: not in the app, or deactivated), refusals in a row and the dead-letter hold.
* `scim_group_state`: per (app, group `externalId`) the app's group id: a unit's group
  (`kind` "unit", the unit code) or an app role's ("role", "role:<app>:<role>[@<unit>]").
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class ScimSubscription(Base):
    __tablename__ = "scim_subscription"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    token_encrypted: Mapped[str] = mapped_column(Text)
    subtree: Mapped[str | None] = mapped_column(String(32))  # a unit code
    role_prefix: Mapped[str | None] = mapped_column(String(64))  # e.g. "document:"
    delete_after_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScimState(Base):
    __tablename__ = "scim_state"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    remote_id: Mapped[str | None] = mapped_column(String(255))
    etag: Mapped[str | None] = mapped_column(String(255))
    # What the app was last sent (None: the person is not an active user there).
    projection: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    inactive_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    dead: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScimGroupState(Base):
    __tablename__ = "scim_group_state"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), default="unit", server_default="unit")
    remote_id: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = ["ScimGroupState", "ScimState", "ScimSubscription"]
