"""The OpenID provider: Authlib's authorization server filled with our storage, the
sign-in pages, hub sessions, logout.

Protocol, one module per standard (Authlib's own split):
`server` (the AuthorizationServer and /oauth/token), `client_credentials` (RFC 6749 4.4),
`authorization_code` (RFC 6749 4.1 + PKCE S256, RFC 7636, + the OpenID code flow),
`refresh_token` (RFC 6749 6, rotating), `introspection` (RFC 7662), `revocation`
(RFC 7009), `userinfo` (OIDC Core 5.3), `discovery` (metadata document and JWKS),
`logout` (RP-initiated and back-channel, ending a leaver's access).
Under them: `models` (Authlib's views of our rows: client, person, token, code),
`tokens` (storing a person's issued tokens), `sealed` (client-credential access tokens
sealed with a MAC, stored nowhere; their deny-list), `plain` (one-row reads without a
Session, for the token exchange and the bearer check), `storage` (the write transaction
and what the hooks share), `keys` (signing keys, JWKS, rotation), `claims` (ID token
and userinfo claims from HR). `settings` declares [oauth] and [sso]; `state` holds the
wing's per-app state (the server, the issuer, cookie security). `setup` wires it all
into the app.

People and their credentials: `clients` (the client registry), `client_admin` and
`clients_api` (who manages which client; /api/v1/clients), `credentials` (action
links, setting a password and TOTP), `passwords` and `totp`, `login` (the password
check), `throttle` and `failures` (lockout, throttling, failures audited per window),
`sessions` (browser sessions in the database), `pages` (the server-rendered
pages, one module per flow) and `i18n` (Vietnamese and English messages).
"""

from idhub.oidc.setup import init_sso

__all__ = ["init_sso"]
