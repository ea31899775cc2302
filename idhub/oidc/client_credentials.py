"""Client credentials (RFC 6749 4.4): API clients' tokens, no person involved.

The access token is sealed (`sealed`): issuing one reads the client and writes nothing.
A plainly valid exchange is answered directly (`plain_exchange`), any other by the grant."""

from __future__ import annotations

import json
import logging

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.authenticate_client import extract_basic_authorization
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.util import scope_to_list
from flask import Response, request

from idhub.oidc.models import CONFIDENTIAL_METHODS, Client, query_client
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
        token = issue(client, client.get_allowed_scope(self.request.payload.scope))
        return 200, token, self.TOKEN_RESPONSE_HEADER


def issue(client: Client, scope: str) -> dict:
    """The token response for a client already authenticated, its scope checked."""
    hub = current_hub()
    ttl = hub.settings.section(OAuthSettings).access_token_ttl_s
    access_token, _expires = seal(hub.keyring, client.row, scope, ttl)
    token = {"token_type": "Bearer", "access_token": access_token, "expires_in": ttl}
    if scope:
        token["scope"] = scope
    log.info("token issued", extra={"client_id": client.get_client_id(), "scope": scope})
    return token


_PLAIN_FIELDS = frozenset({"grant_type", "scope"})


def plain_exchange(scopes_supported: list[str] | None) -> Response | None:
    """The plainly valid exchange answered without Authlib's request objects (they cost
    as much as the rest of it): credentials in HTTP Basic (read by Authlib's own parser),
    an enabled confidential client allowed this grant, the right secret, only scopes the
    client holds. Anything else (another way to authenticate, a wrong secret, an unknown
    scope, any other parameter) gives None, and Authlib's grant answers it, with the same
    checks and its RFC 6749 errors."""
    form = request.form
    if request.args or not form.keys() <= _PLAIN_FIELDS or len(form.getlist("scope")) > 1:
        return None
    client_id, secret = extract_basic_authorization(request.headers)
    if not client_id or not secret:
        return None
    client = query_client(client_id)
    if (
        client is None
        or not client.check_endpoint_auth_method("client_secret_basic", "token")
        or not client.check_client_secret(secret)
        or not client.check_grant_type(ClientCredentialsGrant.GRANT_TYPE)
    ):
        return None
    requested = set(scope_to_list(form.get("scope")) or [])
    if requested - set(client.row.scope.split()) or (
        scopes_supported and requested - set(scopes_supported)
    ):
        return None
    token = issue(client, client.get_allowed_scope(form.get("scope")))
    return Response(json.dumps(token), 200, headers=ClientCredentialsGrant.TOKEN_RESPONSE_HEADER)
