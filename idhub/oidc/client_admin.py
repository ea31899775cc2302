"""Managing registered clients (#18): who may see and change which, within what they hold.

The API (`/api/v1/clients`) and the console call these functions with a `Manager`: a
province-wide administrator (`admin` everywhere) manages every client; a person holding
`app_owner` (the `apps` scope) manages the clients they own (`owner_person_id`), and a
client they register is theirs. Nobody gives a client more than they hold: the API
scopes given to a client must be held by the one registering it, and an API client
registered by someone below the province is limited to a subtree inside their reach.
Others' clients answer 404 as if absent. Secrets are returned once and never logged.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from idhub.admin_scope.scope import OutsideScope, Scope
from idhub.changes.chain import Actor, AuditLog
from idhub.errors import Conflict, Invalid, NotFound
from idhub.keyring import Keyring
from idhub.models import OAuthClient, OAuthToken, utcnow
from idhub.oidc.clients import (
    CLIENT_CREDENTIALS,
    SIGN_ON_GRANTS,
    NewClient,
    check_uri,
    create_client,
    set_client_disabled,
)

# The API's scopes that act on other people's data: given to a client only by one who
# holds them (web/bearer.py ADMIN_SCOPE_ROLES, and `apps` itself).
ADMIN_API_SCOPES = frozenset(
    {"hr:read", "hr:write", "audit:read", "admin", "access:reset", "national:exchange", "apps"}
)
APPS = "apps"


@dataclass(frozen=True)
class Manager:
    """Who manages clients now: `everywhere` (province administrator) or the `owner`
    of their own; `held` the API scopes they hold (somewhere); `reach(scopes)` the units
    where they hold any of `scopes`."""

    actor: Actor
    everywhere: bool
    owner: uuid.UUID | None
    held: frozenset[str]
    reach: Callable[[frozenset[str]], Scope] = field(compare=False)

    @property
    def may_manage(self) -> bool:
        return self.everywhere or (self.owner is not None and APPS in self.held)


def _refused() -> OutsideScope:
    return OutsideScope(
        "Chỉ quản trị viên hoặc chủ ứng dụng mới quản lý được ứng dụng. / Only an "
        "administrator or an app owner manages clients.",
        code="app_owner_required",
    )


def visible(query: Select, manager: Manager) -> Select:
    if manager.everywhere:
        return query
    if manager.owner is None or APPS not in manager.held:
        return query.where(false())
    return query.where(OAuthClient.owner_person_id == manager.owner)


def listed(manager: Manager, filters: dict[str, Any]) -> Select:
    if not manager.may_manage:
        raise _refused()
    query = select(OAuthClient).order_by(OAuthClient.created_at.desc(), OAuthClient.client_id)
    if filters.get("disabled") is not None:
        col = OAuthClient.disabled_at
        query = query.where(col.is_not(None) if filters["disabled"] else col.is_(None))
    return visible(query, manager)


def get_managed(session: Session, manager: Manager, client_id: str) -> OAuthClient:
    """The client if `manager` manages it; 404 otherwise (others' clients are not shown)."""
    row = session.scalar(
        visible(select(OAuthClient), manager).where(OAuthClient.client_id == client_id)
    )
    if row is None:
        raise NotFound(f"No client {client_id!r}.", code="client_not_found")
    return row


def is_sign_on(row: OAuthClient) -> bool:
    return "authorization_code" in (row.grant_types or [])


def _more_than_held(what: str) -> OutsideScope:
    return OutsideScope(
        f"Không thể cấp cho ứng dụng quyền vượt quá quyền mình có: {what}. / You cannot "
        f"give a client more than you hold: {what}.",
        code="client_exceeds_own",
    )


def _check_scopes(manager: Manager, scopes: list[str]) -> frozenset[str]:
    """The administrative scopes asked for; each must be held by the manager."""
    admin = frozenset(scopes) & ADMIN_API_SCOPES
    if manager.everywhere:
        return admin
    beyond = sorted(admin - manager.held)
    if beyond:
        raise _more_than_held(", ".join(beyond))
    return admin


def _check_subtree(
    manager: Manager, admin_scopes: frozenset[str], subtree: uuid.UUID | None
) -> None:
    """An API client with administrative scopes reaches no wider than its registrar."""
    if not admin_scopes or manager.everywhere:
        return
    reach = manager.reach(admin_scopes)
    if subtree is None and not reach.everywhere:
        raise _more_than_held("subtree_unit_id (the whole province)")
    if not reach.covers(subtree):
        raise _more_than_held("subtree_unit_id")


def register(
    session: Session,
    keyring: Keyring,
    audit: AuditLog,
    manager: Manager,
    data: dict[str, Any],
    allowed_scopes: list[str],
) -> NewClient:
    """A sign-on app (`kind` "app": authorization code, refresh) or an API client (`kind`
    "api": client credentials). The one registering owns it (an administrator may name
    another owner)."""
    if not manager.may_manage:
        raise _refused()
    kind = data.get("kind", "app")
    scopes = list(data.get("scopes") or [])
    admin_scopes = _check_scopes(manager, scopes)
    subtree = data.get("subtree_unit_id")
    if kind == "api":
        _check_subtree(manager, admin_scopes, subtree)
        grants = [CLIENT_CREDENTIALS]
        client_type = "confidential"
    elif kind == "app":
        if subtree is not None:
            raise Invalid(
                "A sign-on app acts for the person signed in: no subtree limit.",
                details={"subtree_unit_id": ["Only for API clients."]},
            )
        grants = list(SIGN_ON_GRANTS)
        client_type = data.get("client_type", "confidential")
    else:
        raise Invalid(f"Unknown kind {kind!r}.", details={"kind": ["app or api."]})
    if data.get("first_party") and not manager.everywhere:
        raise _more_than_held("first_party")
    owner = data.get("owner_person_id") if manager.everywhere else None
    return create_client(
        session,
        keyring,
        audit,
        manager.actor,
        name=data.get("name") or "",
        scopes=scopes,
        allowed_scopes=allowed_scopes,
        client_type=client_type,
        grant_types=grants,
        redirect_uris=list(data.get("redirect_uris") or []),
        post_logout_redirect_uris=list(data.get("post_logout_redirect_uris") or []),
        backchannel_logout_uri=data.get("backchannel_logout_uri"),
        client_uri=data.get("client_uri"),
        first_party=bool(data.get("first_party")),
        subtree_unit_id=subtree,
        owner_person_id=owner or manager.owner,
    )


UPDATABLE = (
    "name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "backchannel_logout_uri",
    "client_uri",
    "scopes",
)


def update(
    session: Session,
    audit: AuditLog,
    manager: Manager,
    row: OAuthClient,
    data: dict[str, Any],
    allowed_scopes: list[str],
) -> OAuthClient:
    """Change a client's name, URIs or scopes (within what the manager holds)."""
    before = {
        "name": row.name,
        "scope": row.scope,
        "redirect_uris": list(row.redirect_uris or []),
        "post_logout_redirect_uris": list(row.post_logout_redirect_uris or []),
        "backchannel_logout_uri": row.backchannel_logout_uri,
        "client_uri": row.client_uri,
    }
    if "name" in data:
        if not (data["name"] or "").strip():
            raise Invalid("A client needs a name.", details={"name": ["Required."]})
        row.name = data["name"].strip()
    for name in ("redirect_uris", "post_logout_redirect_uris"):
        if name in data:
            setattr(row, name, [check_uri(u, name.rstrip("s")) for u in data[name] or []])
    if is_sign_on(row) and not row.redirect_uris:
        raise Invalid(
            "A sign-on client needs at least one redirect URI.",
            details={"redirect_uris": ["Required."]},
        )
    for name in ("backchannel_logout_uri", "client_uri"):
        if name in data:
            value = data[name] or None
            setattr(row, name, check_uri(value, name) if value else None)
    if "scopes" in data:
        scopes = list(data["scopes"] or [])
        unknown = sorted(set(scopes) - set(allowed_scopes))
        if unknown:
            raise Invalid(f"Unknown scope(s): {', '.join(unknown)}.", details={"scopes": unknown})
        admin_scopes = _check_scopes(manager, scopes)
        if not is_sign_on(row):
            _check_subtree(manager, admin_scopes, row.subtree_unit_id)
        row.scope = " ".join(sorted(set(scopes)))
    after = {
        "name": row.name,
        "scope": row.scope,
        "redirect_uris": list(row.redirect_uris or []),
        "post_logout_redirect_uris": list(row.post_logout_redirect_uris or []),
        "backchannel_logout_uri": row.backchannel_logout_uri,
        "client_uri": row.client_uri,
    }
    session.flush()
    audit.record(
        session,
        actor=manager.actor,
        action="oauth_client.update",
        object_type="oauth_client",
        object_id=row.client_id,
        before=before,
        after=after,
    )
    return row


def rotate_secret(
    session: Session, keyring: Keyring, audit: AuditLog, manager: Manager, row: OAuthClient
) -> NewClient:
    """A new secret, returned once; the old one stops at once (no overlap: whoever
    rotates because a secret leaked wants it dead now). Client-credential tokens are
    sealed with the secret's print (sealed.py), so those issued with the old secret end
    too; a sign-on app's person tokens live on until they expire (disable to end them)."""
    if row.client_type == "public":
        raise Conflict("A public client has no secret.", code="client_public")
    secret = secrets.token_urlsafe(40)
    row.client_secret_hash = keyring.token_hash(secret)
    session.flush()
    audit.record(
        session,
        actor=manager.actor,
        action="oauth_client.rotate_secret",
        object_type="oauth_client",
        object_id=row.client_id,
        after={"rotated_at": utcnow().isoformat()},  # never the secret
    )
    return NewClient(row.client_id, secret)


def set_disabled(
    session: Session, audit: AuditLog, manager: Manager, row: OAuthClient, disabled: bool
) -> int:
    """Disable (every token it holds revoked at once) or enable a managed client."""
    return set_client_disabled(session, audit, manager.actor, row.client_id, disabled=disabled)


@dataclass(frozen=True)
class Usage:
    live_tokens: int
    people: int
    last_issued_at: Any


def usage(session: Session, client_id: str) -> Usage:
    """Live stored tokens, distinct people holding one, the last issued (sealed
    client-credential tokens are stored nowhere: not counted)."""
    now = utcnow()
    live = (
        OAuthToken.client_id == client_id,
        OAuthToken.revoked_at.is_(None),
        OAuthToken.expires_at > now,
    )
    count, people = session.execute(
        select(func.count(), func.count(OAuthToken.person_id.distinct())).where(*live)
    ).one()
    last = session.scalar(
        select(func.max(OAuthToken.issued_at)).where(OAuthToken.client_id == client_id)
    )
    return Usage(int(count or 0), int(people or 0), last)
