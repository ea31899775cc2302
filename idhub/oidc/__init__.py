"""Single sign-on: the OpenID Connect provider on Authlib, sign-in pages, sessions, logout.

One module per concern: `keys` (signing keys, JWKS, rotation), `grants` (Authlib's
authorization-code and refresh grants, PKCE, OpenID, introspection, revocation filled with
our storage), `claims` (ID token and userinfo claims from HR), `sessions` (browser
sessions in the database), `passwords` and `totp` (credentials), `login` (lockout and
throttling), `logout` (RP-initiated and back-channel, ending a leaver's access),
`pages` (the server-rendered pages) and `i18n` (Vietnamese and English messages).
"""

from idhub.oidc.setup import init_sso

__all__ = ["init_sso"]
