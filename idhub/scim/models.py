"""The SCIM resources the hub serves, on scim2-models: User with the enterprise extension
and the hub's own, Group, and the discovery documents (ServiceProviderConfig,
ResourceTypes, Schemas)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from scim2_models import (
    URN,
    ComplexAttribute,
    EnterpriseUser,
    Extension,
    Group,
    Meta,
    Mutability,
    ResourceType,
    ServiceProviderConfig,
    User,
)

IDHUB_USER = "urn:ietf:params:scim:schemas:extension:idhub:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MAX_RESULTS = 1000  # a list page holds at most this many resources
MAX_BULK_OPERATIONS = 1000
MAX_BULK_BYTES = 4 * 1024 * 1024


class Post(ComplexAttribute):
    """One post (chức vụ) held in a unit; `kind` "primary" or "concurrent" (kiêm nhiệm)."""

    unit_code: str | None = None
    unit_name: Annotated[str | None, Mutability.read_only] = None
    position_code: str | None = None
    position_name: Annotated[str | None, Mutability.read_only] = None
    kind: str | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    decision_ref: str | None = None


class IdhubUser(Extension):
    """What the hub knows beyond the enterprise extension. `nationalId` (CCCD) and
    `birthDate` are written by an HR system and shown only to a client holding
    `scim:personal`."""

    __schema__ = URN(IDHUB_USER)

    unit_code: Annotated[str | None, Mutability.read_only] = None
    position: Annotated[str | None, Mutability.read_only] = None
    position_code: Annotated[str | None, Mutability.read_only] = None
    posts: list[Post] | None = None
    national_id: str | None = None
    birth_date: dt.date | None = None


HubUser = User[EnterpriseUser | IdhubUser]  # type: ignore[type-arg]
EXTENSIONS = (EnterpriseUser, IdhubUser)


def service_provider_config(base: str) -> ServiceProviderConfig:
    return ServiceProviderConfig.model_validate(
        {
            "documentationUri": f"{base}/docs",
            "patch": {"supported": True},
            "bulk": {
                "supported": True,
                "maxOperations": MAX_BULK_OPERATIONS,
                "maxPayloadSize": MAX_BULK_BYTES,
            },
            "filter": {"supported": True, "maxResults": MAX_RESULTS},
            "changePassword": {"supported": False},
            "sort": {"supported": True},
            "etag": {"supported": True},
            "authenticationSchemes": [
                {
                    "type": "oauthbearertoken",
                    "name": "OAuth Bearer Token",
                    "description": (
                        "A client-credentials token from /oauth/token with scim:read "
                        "(and scim:write to write). Groups are read-only: they follow posts."
                    ),
                    "primary": True,
                }
            ],
            "meta": {
                "resourceType": "ServiceProviderConfig",
                "location": f"{base}/ServiceProviderConfig",
            },
        }
    )


def resource_types(base: str) -> list[ResourceType]:
    user = {
        "id": "User",
        "name": "User",
        "description": "A person of the province's staff (an HR record).",
        "endpoint": "/Users",
        "schema": "urn:ietf:params:scim:schemas:core:2.0:User",
        "schemaExtensions": [
            {"schema": ENTERPRISE_USER, "required": False},
            {"schema": IDHUB_USER, "required": False},
        ],
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"},
    }
    group = {
        "id": "Group",
        "name": "Group",
        "description": "A group the hub provisions (unit and role groups); read-only.",
        "endpoint": "/Groups",
        "schema": "urn:ietf:params:scim:schemas:core:2.0:Group",
        "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"},
    }
    return [ResourceType.model_validate(user), ResourceType.model_validate(group)]


def schemas(base: str) -> list[Any]:
    found = []
    for model in (User, EnterpriseUser, IdhubUser, Group):
        schema = model.to_schema()
        schema.meta = Meta(resource_type="Schema", location=f"{base}/Schemas/{schema.id}")
        found.append(schema)
    return found
