"""The administration console at /admin: server-rendered pages for HR officers, security
officers, auditors, app owners and the province's administrators, each reaching what their
administrative roles reach (the same rules as the API, `idhub.admin_scope`).

A wing: pages over the service functions of the wings below it; no rule of its own.
`frame.py` holds the blueprint, who may enter (signed in with a second factor, holding a
role) and rendering; one module per section, each appending itself to `SECTIONS`.
"""

# Import order is the navigation's order: each section appends itself to SECTIONS.
from idhub.console import home  # noqa: F401, I001
from idhub.console import people, person, units, actions  # noqa: F401
from idhub.console import imports  # noqa: F401
from idhub.console import changesets, jobs, audit  # noqa: F401
from idhub.console import apps, seats, delegations, grants  # noqa: F401
from idhub.console.frame import bp

__all__ = ["bp"]
