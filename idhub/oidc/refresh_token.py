"""Refresh (RFC 6749 6) with rotation: Authlib's grant, its storage hooks filled.

Each use returns a new refresh token and marks the old one rotated; a rotated token
presented again is theft (RFC 9700 4.14.2): the whole family (every token descending
from the same code) is revoked. A family's lifetime is absolute (see `tokens`).
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError
from sqlalchemy import select, update

from idhub.models import OAuthToken, utcnow
from idhub.oidc.models import ALL_METHODS, PersonToken, SignedIn, issued_to
from idhub.oidc.storage import keyring, refuse_replay, revoke_family, writing


class RotatingRefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> PersonToken | None:
        digest = keyring().token_hash(refresh_token)
        with writing() as session:
            row = session.scalar(select(OAuthToken).where(OAuthToken.refresh_token_hash == digest))
            if row is None:
                return None
            if row.refresh_rotated_at is not None and row.family_id is not None:
                refuse_replay(
                    session,
                    row.family_id,
                    row.client_id,
                    action="sso.refresh.reused",
                    why="rotated refresh token reused",
                )
                return None
            session.expunge(row)
        token = PersonToken(row, "refresh_token")
        if token.is_revoked() or token.is_expired():
            return None
        return token

    def authenticate_user(self, refresh_token: PersonToken) -> SignedIn | None:
        # Ending a hub session revokes its tokens (logout.end_access), so no session check.
        row = refresh_token.row
        return issued_to(row.person_id, row.session_id, live_session=False)

    def revoke_old_credential(self, refresh_token: PersonToken) -> None:
        with writing() as session:
            rotated = session.execute(
                update(OAuthToken)
                .where(
                    OAuthToken.id == refresh_token.row.id, OAuthToken.refresh_rotated_at.is_(None)
                )
                .values(refresh_rotated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            if not rotated.rowcount and refresh_token.row.family_id:  # type: ignore[attr-defined]
                # Another request rotated it at the same moment: one of them is a thief.
                revoke_family(session, refresh_token.row.family_id, "concurrent refresh reuse")
                session.commit()
                raise InvalidGrantError("The refresh token was already used.")
