"""Token revocation (RFC 7009): Authlib's endpoint, its storage hook filled. A sealed
client token is denied by its jti until it expires; a stored one is marked revoked."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint
from sqlalchemy import update

from idhub.models import OAuthToken, utcnow
from idhub.oidc.models import ALL_METHODS, PersonToken, find_token
from idhub.oidc.sealed import SealedRow, deny
from idhub.oidc.storage import revoke_family, writing


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ALL_METHODS

    def query_token(self, token_string: str, token_type_hint: str | None) -> PersonToken | None:
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token: PersonToken, request: OAuth2Request) -> None:
        with writing() as session:
            if isinstance(token.row, SealedRow):
                deny(session, token.row)
            elif token.kind == "refresh_token" and token.row.family_id is not None:
                # RFC 7009 2.1: revoking a refresh token also revokes the grant's access tokens.
                revoke_family(session, token.row.family_id, "refresh token revoked by its client")
            else:
                session.execute(
                    update(OAuthToken)
                    .where(OAuthToken.id == token.row.id, OAuthToken.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                )
