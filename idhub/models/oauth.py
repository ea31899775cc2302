"""OAuth 2 clients and the access tokens issued to them (secrets stored as keyed SHA-256)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from idhub.models.base import Base, UTCDateTime, utcnow


class OAuthClient(Base):
    __tablename__ = "oauth_client"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    client_secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(Text, default="")
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(
        String(32), default="client_secret_basic"
    )
    # Sign-on (OIDC) clients: "confidential" (has a secret) or "public" (PKCE, no secret).
    client_type: Mapped[str] = mapped_column(String(16), default="confidential")
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    # The app's home page (OIDC Dynamic Registration's client_uri): the "my apps" link.
    client_uri: Mapped[str | None] = mapped_column(Text)
    # First-party apps of the province skip the consent screen.
    first_party: Mapped[bool] = mapped_column(Boolean, default=False)
    # Refresh tokens only when the app asks for offline_access, unless this is set.
    refresh_without_offline: Mapped[bool] = mapped_column(Boolean, default=False)
    # A refresh-token family's absolute lifetime; NULL: [sso] refresh_token_ttl_s.
    refresh_token_ttl_s: Mapped[int | None] = mapped_column(Integer)
    # An API client limited to a unit's subtree (a commune's own HR system); NULL: all.
    subtree_unit_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("org_unit.id"))
    # The app owner who registered it (an app owner manages only their own clients).
    owner_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"))
    # The app this client is ("document", "meeting"): it receives the "<app>:<role>"
    # application roles of the rules, and no other app's. NULL: no app roles.
    app_key: Mapped[str | None] = mapped_column(String(64), index=True)
    # Also the hub-wide `roles` and `groups` claims (internal names an app rarely needs).
    hub_roles: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Sealed (self-contained) access tokens issued up to this moment are refused: set
    # when the client is disabled, so enabling it again does not revive them.
    tokens_revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class OAuthToken(Base):
    __tablename__ = "oauth_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_client.client_id"), index=True)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_type: Mapped[str] = mapped_column(String(32), default="Bearer")
    scope: Mapped[str] = mapped_column(Text, default="")
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Tokens issued to a person (authorization code / refresh grants); NULL for API clients.
    person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("person.id"), index=True)
    session_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sso_session.id"), index=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    refresh_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Set when the refresh token was exchanged for a new one; using it again is theft.
    refresh_rotated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Every token descending from one authorization code shares the code's id.
    family_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)


class TokenDenylist(Base):
    """Sealed client access tokens revoked before their expiry (RFC 7009), by their jti;
    a row is needed only until the token would have expired anyway."""

    __tablename__ = "token_denylist"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    revoked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
