"""The client registry: API clients and sign-on apps; secrets shown once, kept keyed-hashed."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from idhub.changes.chain import Actor, AuditLog
from idhub.errors import Invalid, NotFound
from idhub.keyring import Keyring
from idhub.models import OAuthClient, OAuthToken, utcnow

CLIENT_CREDENTIALS = "client_credentials"


@dataclass(frozen=True)
class NewClient:
    client_id: str
    client_secret: str  # shown once, never stored; "" for a public client


SIGN_ON_GRANTS = ("authorization_code", "refresh_token")
CLIENT_TYPES = ("confidential", "public")


def check_uri(uri: str, field: str) -> str:
    parts = urlsplit(uri)
    loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.fragment:
        raise Invalid(
            f"{field}: {uri!r} is not an absolute http(s) URI without fragment.",
            details={field: [uri]},
        )
    if parts.scheme == "http" and not loopback:
        raise Invalid(
            f"{field}: {uri!r} must use https (http only on loopback).", details={field: [uri]}
        )
    return uri


APP_KEY = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


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
    client_type: str = "confidential",
    grant_types: list[str] | None = None,
    redirect_uris: list[str] | None = None,
    post_logout_redirect_uris: list[str] | None = None,
    backchannel_logout_uri: str | None = None,
    client_uri: str | None = None,
    first_party: bool = False,
    refresh_without_offline: bool = False,
    refresh_token_ttl_s: int | None = None,
    subtree_unit_id: uuid.UUID | None = None,
    owner_person_id: uuid.UUID | None = None,
    app_key: str | None = None,
    hub_roles: bool | None = None,
) -> NewClient:
    """Register a client: by default a confidential API client (client credentials);
    with sign-on grants, an app that signs people in (authorization code, refresh).
    `subtree_unit_id` limits an API client to that unit and the units below it."""
    grant_types = list(grant_types or [CLIENT_CREDENTIALS])
    if client_type not in CLIENT_TYPES:
        raise Invalid(
            f"Client type must be one of {', '.join(CLIENT_TYPES)}.",
            details={"client_type": [client_type]},
        )
    bad_grants = sorted(set(grant_types) - {CLIENT_CREDENTIALS, *SIGN_ON_GRANTS})
    if bad_grants:
        raise Invalid(f"Unknown grant(s): {', '.join(bad_grants)}.", details={"grant": bad_grants})
    if client_type == "public" and CLIENT_CREDENTIALS in grant_types:
        raise Invalid(
            "A public client cannot use client credentials.",
            details={"grant": [CLIENT_CREDENTIALS]},
        )
    redirect_uris = [check_uri(u, "redirect_uri") for u in redirect_uris or []]
    post_logout = [
        check_uri(u, "post_logout_redirect_uri") for u in post_logout_redirect_uris or []
    ]
    if backchannel_logout_uri:
        check_uri(backchannel_logout_uri, "backchannel_logout_uri")
    if client_uri:
        check_uri(client_uri, "client_uri")
    if "authorization_code" in grant_types and not redirect_uris:
        raise Invalid(
            "A sign-on client needs at least one redirect URI.",
            details={"redirect_uri": ["Required."]},
        )
    unknown = sorted(set(scopes) - set(allowed_scopes))
    if unknown:
        raise Invalid(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(allowed_scopes)}.",
            details={"scope": unknown},
        )
    if not name.strip():
        raise Invalid("A client needs a name.", details={"name": ["Required."]})
    if refresh_token_ttl_s is not None and refresh_token_ttl_s <= 0:
        raise Invalid(
            "A refresh-token lifetime must be positive.",
            details={"refresh_token_ttl_s": [refresh_token_ttl_s]},
        )
    app_key = (app_key or "").strip() or None
    if app_key is not None and not APP_KEY.fullmatch(app_key):
        raise Invalid(
            f"App key {app_key!r}: lower-case letters, digits, '.', '_', '-' (as in the rules' "
            "'<app>:<role>').",
            details={"app_key": [app_key]},
        )
    if hub_roles is None:  # an app sees its own roles only, unless asked otherwise
        hub_roles = app_key is None
    client_id = client_id or "idh_" + secrets.token_urlsafe(16)
    public = client_type == "public"
    client_secret = "" if public else client_secret or secrets.token_urlsafe(40)
    if session.scalar(select(OAuthClient.id).where(OAuthClient.client_id == client_id)):
        raise Invalid(f"Client id {client_id!r} is taken.", details={"client_id": ["Taken."]})
    client = OAuthClient(
        client_id=client_id,
        client_secret_hash=keyring.token_hash(client_secret) if client_secret else None,
        name=name.strip(),
        scope=" ".join(sorted(set(scopes))),
        grant_types=grant_types,
        token_endpoint_auth_method="none" if client_type == "public" else "client_secret_basic",
        client_type=client_type,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout,
        backchannel_logout_uri=backchannel_logout_uri or None,
        client_uri=client_uri or None,
        first_party=first_party,
        refresh_without_offline=refresh_without_offline,
        refresh_token_ttl_s=refresh_token_ttl_s,
        subtree_unit_id=subtree_unit_id,
        owner_person_id=owner_person_id,
        app_key=app_key,
        hub_roles=hub_roles,
    )
    session.add(client)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="oauth_client.create",
        object_type="oauth_client",
        object_id=client_id,
        after={
            "name": client.name,
            "scope": client.scope,
            "grant_types": client.grant_types,
            "client_type": client_type,
            "redirect_uris": redirect_uris,
            "post_logout_redirect_uris": post_logout,
            "backchannel_logout_uri": backchannel_logout_uri,
            "first_party": first_party,
            "refresh_without_offline": refresh_without_offline,
            "refresh_token_ttl_s": refresh_token_ttl_s,
            "subtree_unit_id": str(subtree_unit_id) if subtree_unit_id else None,
            "app_key": app_key,
            "hub_roles": hub_roles,
        },
    )
    return NewClient(client_id, client_secret)


def set_client_disabled(
    session: Session, audit: AuditLog, actor: Actor, client_id: str, *, disabled: bool
) -> int:
    """Disable a client (or enable it again). Disabling revokes every token it holds, so
    introspection says inactive, bearer checks refuse and refresh fails at once (its
    secret no longer authenticates either): the stored ones marked, the sealed ones
    issued until now refused for good (`tokens_revoked_at`), even once it is enabled
    again; returns how many stored tokens were revoked."""
    row = session.scalar(
        select(OAuthClient).where(OAuthClient.client_id == client_id).with_for_update()
    )
    if row is None:
        raise NotFound(f"No client {client_id!r}.")
    revoked = 0
    now = utcnow()
    if disabled:
        row.disabled_at = row.disabled_at or now
        row.tokens_revoked_at = now
        result = session.execute(
            update(OAuthToken)
            .where(OAuthToken.client_id == client_id, OAuthToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        revoked = int(result.rowcount or 0)  # type: ignore[attr-defined]
    else:
        row.disabled_at = None
    audit.record(
        session,
        actor=actor,
        action="oauth_client.disable" if disabled else "oauth_client.enable",
        object_type="oauth_client",
        object_id=client_id,
        after={"tokens_revoked": revoked},
    )
    return revoked
