"""The client registry: register an API client, print its secret once, keep only a keyed hash."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import Actor, AuditLog
from ..errors import Invalid
from ..keyring import Keyring
from ..models import OAuthClient

CLIENT_CREDENTIALS = "client_credentials"


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str  # shown once, never stored


def create_client(
    session: Session,
    keyring: Keyring,
    audit: AuditLog,
    actor: Actor,
    *,
    name: str,
    scopes: list[str],
    allowed_scopes: list[str],
    client_id: str | None = None,
    client_secret: str | None = None,
) -> NewClient:
    """Register a confidential client for the client-credentials grant."""
    unknown = sorted(set(scopes) - set(allowed_scopes))
    if unknown:
        raise Invalid(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(allowed_scopes)}.",
            details={"scope": unknown},
        )
    if not name.strip():
        raise Invalid("A client needs a name.", details={"name": ["Required."]})
    client_id = client_id or "idh_" + secrets.token_urlsafe(16)
    client_secret = client_secret or secrets.token_urlsafe(40)
    if session.scalar(select(OAuthClient.id).where(OAuthClient.client_id == client_id)):
        raise Invalid(f"Client id {client_id!r} is taken.", details={"client_id": ["Taken."]})
    client = OAuthClient(
        client_id=client_id,
        client_secret_hash=keyring.token_hash(client_secret),
        name=name.strip(),
        scope=" ".join(sorted(set(scopes))),
        grant_types=[CLIENT_CREDENTIALS],
        token_endpoint_auth_method="client_secret_basic",
    )
    session.add(client)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="oauth_client.create",
        object_type="oauth_client",
        object_id=client_id,
        after={"name": client.name, "scope": client.scope, "grant_types": client.grant_types},
    )
    return NewClient(client_id, client_secret)
