"""Client credentials (RFC 6749 4.4): API clients' tokens, no person involved."""

from __future__ import annotations

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.util import scope_to_list

from idhub.oidc.models import CONFIDENTIAL_METHODS


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(CONFIDENTIAL_METHODS)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # Asking for a scope the client was never granted is an error (RFC 6749 5.2),
        # not a silently narrower (possibly empty) token.
        requested = set(scope_to_list(self.request.payload.scope) or [])
        if requested - set(self.request.client.row.scope.split()):
            raise InvalidScopeError()
