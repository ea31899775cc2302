"""All tables of the hub; importing this module registers them on Base.metadata."""

from idhub.models.admin import AdminGrant
from idhub.models.app_passwords import AppPassword
from idhub.models.app_roles import AppDelegation
from idhub.models.audit import AuditEvent
from idhub.models.backchannel import BackchannelNotice
from idhub.models.base import Base, time_ordered_uuid, utcnow
from idhub.models.events import EventDeadLetter, EventState, EventSubscription
from idhub.models.hr import (
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
from idhub.models.idempotency import IdempotencyRecord
from idhub.models.imports import ImportUpload
from idhub.models.keys import KeyFingerprint
from idhub.models.mail import MailAddress, MailDelegation, Seat
from idhub.models.national import NationalExport, NationalImport, NationalKey, NationalPartner
from idhub.models.oauth import OAuthClient, OAuthToken, TokenDenylist
from idhub.models.passkey import Passkey, PasskeyChallenge
from idhub.models.personal import PersonalRead
from idhub.models.provisioning import (
    AccountLink,
    HubState,
    JobState,
    LinkState,
    ProvisioningJob,
    ReservedIdentifier,
    Urgency,
)
from idhub.models.reorg import ChangeSet, ChangeSetPerson, ChangeSetState, PostHistory
from idhub.models.scimout import ScimGroupState, ScimState, ScimSubscription
from idhub.models.sso import (
    ActionToken,
    AuthorizationCode,
    Consent,
    LoginFailureTally,
    LoginLock,
    LoginThrottle,
    PersonCredential,
    RecoveryCode,
    SigningKey,
    SsoSession,
)

__all__ = [
    "AppDelegation",
    "ScimGroupState",
    "ScimState",
    "ScimSubscription",
    "KeyFingerprint",
    "PersonalRead",
    "EventDeadLetter",
    "EventState",
    "EventSubscription",
    "AdminGrant",
    "AppPassword",
    "BackchannelNotice",
    "ActionToken",
    "AuthorizationCode",
    "Consent",
    "LoginFailureTally",
    "LoginLock",
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
    "Urgency",
    "Assignment",
    "AssignmentKind",
    "ChangeSet",
    "ChangeSetPerson",
    "ChangeSetState",
    "AuditEvent",
    "Base",
    "IdempotencyRecord",
    "ImportUpload",
    "LineageKind",
    "OAuthClient",
    "OAuthToken",
    "TokenDenylist",
    "Passkey",
    "PasskeyChallenge",
    "OrgUnit",
    "OrgUnitLineage",
    "Person",
    "PersonStatus",
    "Position",
    "UnitStatus",
    "UnitType",
    "time_ordered_uuid",
    "NationalExport",
    "NationalImport",
    "NationalKey",
    "NationalPartner",
    "PostHistory",
    "utcnow",
]
