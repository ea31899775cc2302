"""Client credentials (RFC 6749 4.4): API clients' tokens, no person involved.

The access token is sealed (`sealed`): issuing one reads the client and writes nothing."""

from __future__ import annotations

import logging

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.util import scope_to_list

from idhub.oidc.models import CONFIDENTIAL_METHODS
from idhub.oidc.sealed import seal
from idhub.oidc.settings import OAuthSettings
from idhub.services import current_hub

log = logging.getLogger(__name__)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(CONFIDENTIAL_METHODS)

    def validate_token_request(self) -> None:
        super().validate_token_request()
        # Asking for a scope the client was never granted is an error (RFC 6749 5.2),
        # not a silently narrower (possibly empty) token.
        requested = set(scope_to_list(self.request.payload.scope) or [])
        if requested - set(self.request.client.row.scope.split()):
            raise InvalidScopeError()

    def create_token_response(self) -> tuple[int, dict, list]:
        client = self.request.client
        scope = client.get_allowed_scope(self.request.payload.scope)
        hub = current_hub()
        ttl = hub.settings.section(OAuthSettings).access_token_ttl_s
        access_token, _expires = seal(hub.keyring, client.row, scope, ttl)
        token = {"token_type": "Bearer", "access_token": access_token, "expires_in": ttl}
        if scope:
            token["scope"] = scope
        log.info("token issued", extra={"client_id": client.get_client_id(), "scope": scope})
        return 200, token, self.TOKEN_RESPONSE_HEADER
