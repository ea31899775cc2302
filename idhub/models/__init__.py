"""All tables of the hub; importing this module registers them on Base.metadata."""

from .audit import AuditEvent
from .base import Base, utcnow
from .hr import (
    Assignment,
    AssignmentKind,
    LineageKind,
    OrgUnit,
    OrgUnitLineage,
    Person,
    PersonStatus,
    Position,
    UnitStatus,
    UnitType,
)
from .idempotency import IdempotencyRecord
from .mail import MailAddress, MailDelegation
from .oauth import OAuthClient, OAuthToken
from .provisioning import (
    AccountLink,
    HubState,
    JobState,
    LinkState,
    ProvisioningJob,
    ReservedIdentifier,
)

__all__ = [
    "AccountLink",
    "HubState",
    "JobState",
    "LinkState",
    "MailAddress",
    "MailDelegation",
    "ProvisioningJob",
    "ReservedIdentifier",
    "Assignment",
    "AssignmentKind",
    "AuditEvent",
    "Base",
    "IdempotencyRecord",
    "LineageKind",
    "OAuthClient",
    "OAuthToken",
    "OrgUnit",
    "OrgUnitLineage",
    "Person",
    "PersonStatus",
    "Position",
    "UnitStatus",
    "UnitType",
    "utcnow",
]
