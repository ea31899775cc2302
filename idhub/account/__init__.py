"""Self-service at /account: what a signed-in person manages for themselves — their HR
record (read-only), password, second factor and recovery codes, passkeys, app passwords for
mail clients, the apps they may open, their mailbox, their sessions, and their personal
data (who saw it; download it).

A wing above `identity` and `oidc`: it reads the HR record and uses the sign-on's
sessions, credentials and pages' plumbing (CSRF, rendering, language), and owns no
protocol of its own. One module per section; `pages.py` holds the blueprint and the
overview.
"""

# Import order is the navigation's order: each section appends itself to SECTIONS.
from idhub.account import password  # noqa: F401, I001
from idhub.account import security  # noqa: F401
from idhub.account import passkeys  # noqa: F401
from idhub.account import app_passwords  # noqa: F401
from idhub.account import apps  # noqa: F401
from idhub.account import mailbox  # noqa: F401
from idhub.account import app_rights  # noqa: F401
from idhub.account import sessions  # noqa: F401
from idhub.account import personal_data  # noqa: F401
from idhub.account.pages import bp

__all__ = ["bp"]
