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
from .mail import MailAddress, MailDelegation, Seat
from .oauth import OAuthClient, OAuthToken
from .provisioning import (
    AccountLink,
    HubState,
    JobState,
    LinkState,
    ProvisioningJob,
    ReservedIdentifier,
)
from .reorg import ChangeSet, ChangeSetPerson, ChangeSetState
from .sso import (
    ActionToken,
    AuthorizationCode,
    Consent,
    LoginThrottle,
    PersonCredential,
    RecoveryCode,
    SigningKey,
    SsoSession,
)

__all__ = [
    "ActionToken",
    "AuthorizationCode",
    "Consent",
    "LoginThrottle",
    "PersonCredential",
    "RecoveryCode",
    "SigningKey",
    "SsoSession",
    "AccountLink",
    "HubState",
    "JobState",
    "LinkState",
    "MailAddress",
    "MailDelegation",
    "ProvisioningJob",
    "ReservedIdentifier",
    "Seat",
    "Assignment",
    "AssignmentKind",
    "ChangeSet",
    "ChangeSetPerson",
    "ChangeSetState",
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
