"""The server-rendered pages, one module per flow a person takes: `login` (password, then
TOTP), `passkey` (a passkey instead of the code, or alone), `consent` (the authorization
request), `activation` (action links: activation and password reset), `account`
(sessions and apps), `logout` (RP-initiated); `common` holds what they share.

Every form carries a CSRF token bound to the signed flow cookie; views that change
anything run one transaction and audit it. Pages use no inline script (strict CSP).
"""

from idhub.oidc.pages import (  # noqa: F401  (routes)
    account,
    activation,
    consent,
    login,
    logout,
    passkey,
)
from idhub.oidc.pages.common import bp

__all__ = ["bp"]
