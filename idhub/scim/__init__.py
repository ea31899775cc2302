"""SCIM 2.0 (RFC 7643/7644) at /scim/v2: the HR database seen as Users and Groups, and an HR
system's joiners, changes and leavers written through the same service functions as the
REST API (docs/scim.md)."""
