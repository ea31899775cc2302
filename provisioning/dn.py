"""Distinguished names for the provisioning core: the pure helpers of connectors.dn.

The core builds and compares DNs with the same functions as the LDAP connector (one
normalize_dn for both); they live in connectors.dn, plain Python with no LDAP library,
the floor this core may import from.
"""

from __future__ import annotations

from connectors.dn import (
    child_dn,
    escape_rdn_value,
    normalize_dn,
    parent_dn,
    rdn,
    rdn_of,
    rdn_value,
    same_dn,
    split_dn,
)

__all__ = [
    "child_dn",
    "escape_rdn_value",
    "normalize_dn",
    "parent_dn",
    "rdn",
    "rdn_of",
    "rdn_value",
    "same_dn",
    "split_dn",
]
