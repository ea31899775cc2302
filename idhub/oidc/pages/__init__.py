"""The server-rendered pages, one module per flow a person takes: `login` (password, then
TOTP), `consent` (the authorization request), `activation` (action links: activation and
password reset), `account` (sessions and apps), `logout` (RP-initiated); `common` holds
what they share.

Every form carries a CSRF token bound to the signed flow cookie; views that change
anything run one transaction and audit it. Pages use no inline script (strict CSP).
"""

from idhub.oidc.pages import account, activation, consent, login, logout  # noqa: F401  (routes)
from idhub.oidc.pages.common import bp

__all__ = ["bp"]
