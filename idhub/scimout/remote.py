"""One app's SCIM server as the target sees it: scim2-client over httpx2, resources built
with scim2-models (a User with the enterprise extension).

Every call answers an `Outcome`-like result or raises `Away` (the app did not answer:
connection refused, timeout) or `Refused` (it answered with an error). A create that
meets a user of the same `userName` (409 uniqueness: an earlier create that timed out but
happened, or a user the app already had) adopts that user instead of creating a second.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
from scim2_client import SCIMClientException
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_client.errors import RequestNetworkException, UnexpectedStatusCodeException
from scim2_models import (
    Email,
    EnterpriseUser,
    Group,
    Name,
    ResourceType,
    SCIMException,
    ScimFilter,
    ScimProvider,
    SearchRequest,
    User,
)

UserModel = User[EnterpriseUser]
PAGE = 100
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Away(Exception):
    """The app did not answer."""


class Refused(Exception):
    """The app answered with an error."""


@dataclass(frozen=True)
class Remote:
    id: str
    etag: str | None


def provider() -> ScimProvider:
    return ScimProvider(
        models=[User, EnterpriseUser, Group],
        resource_types=[ResourceType.from_resource(UserModel), ResourceType.from_resource(Group)],
    )


def user_resource(projection: dict[str, Any], active: bool) -> Any:
    """The SCIM User for a person's projection (idhub/events/projection.py's fields)."""
    user = UserModel(
        user_name=projection["username"],
        external_id=projection["sub"],
        display_name=projection.get("name") or projection["username"],
        name=Name(formatted=projection.get("name") or projection["username"]),
        title=projection.get("position"),
        active=active,
    )
    if projection.get("email"):
        user.emails = [Email(value=projection["email"], primary=True, type=Email.Type.work)]
    unit = projection.get("unit") or {}
    user[EnterpriseUser] = EnterpriseUser(
        employee_number=projection.get("employee_number"),
        department=unit.get("name"),
        division=unit.get("code"),
    )
    return user


class AppClient:
    """A SCIM client for one app (one httpx2 connection pool, closed by `close`)."""

    def __init__(self, url: str, token: str, timeout_s: float) -> None:
        self.http = httpx2.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout_s,
        )
        self.scim = SyncSCIMClient(self.http, provider=provider())

    def close(self) -> None:
        self.http.close()

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except RequestNetworkException as exc:
            raise Away(_describe(exc)) from exc
        except (SCIMClientException, SCIMException) as exc:
            raise Refused(_describe(exc)) from exc

    def find(self, user_name: str) -> Remote | None:
        """The app's user of that `userName` (filter `userName eq "…"`)."""
        found = self._call(
            self.scim.query,
            UserModel,
            query_parameters=SearchRequest(
                filter=ScimFilter(f"userName eq {ScimFilter.quote(user_name)}")
            ),
        )
        for resource in found.resources or []:
            return Remote(resource.id, resource.meta.version if resource.meta else None)
        return None

    def create(self, projection: dict[str, Any]) -> Remote:
        try:
            created = self._call(self.scim.create, user_resource(projection, True))
        except Refused as exc:
            if not _conflict(exc):
                raise
            existing = self.find(projection["username"])
            if existing is None:
                raise
            return self.replace(existing.id, existing.etag, projection, True)
        return Remote(created.id, created.meta.version if created.meta else None)

    def replace(
        self, remote_id: str, etag: str | None, projection: dict[str, Any], active: bool
    ) -> Remote:
        """PUT the whole user, with If-Match when the app gave an ETag; a stale ETag (the
        app's user changed there) is read again once: the hub is the source."""
        user = user_resource(projection, active)
        user.id = remote_id
        headers = {"If-Match": etag} if etag else {}
        try:
            done = self._call(self.scim.replace, user, headers=headers)
        except Refused as exc:
            if not (etag and _status(exc) == 412):
                raise
            current = self._call(self.scim.query, UserModel, remote_id)
            fresh = current.meta.version if current.meta else None
            done = self._call(self.scim.replace, user, headers={"If-Match": fresh} if fresh else {})
        return Remote(done.id, done.meta.version if done.meta else None)

    def delete(self, remote_id: str) -> None:
        try:
            self._call(self.scim.delete, UserModel, remote_id)
        except Refused as exc:
            if _status(exc) != 404:  # already gone
                raise

    def group(self, external_id: str, name: str | None) -> str | None:
        """The app's group of that `externalId` (a unit's or an app role's), made once:
        found by `externalId` first, so a group made before the hub lost its id is kept;
        made with that `name` when not found (None: not made)."""
        found = self._call(
            self.scim.query,
            Group,
            query_parameters=SearchRequest(
                filter=ScimFilter(f"externalId eq {ScimFilter.quote(external_id)}")
            ),
        )
        for resource in found.resources or []:
            return str(resource.id)
        if name is None:
            return None
        created = self._call(self.scim.create, Group(display_name=name, external_id=external_id))
        return str(created.id)

    def members(self, group_id: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """One PATCH of the group's members: a round's leavers out, its joiners in. A PATCH
        is all or nothing (RFC 7644 §3.5.2), so when the app refuses it because someone to
        remove is not a member any more (noTarget), the removals go one by one, each such
        refusal being fine, then the additions."""
        removals = [
            {"op": "remove", "path": f"members[value eq {ScimFilter.quote(r)}]"} for r in remove
        ]
        addition = [{"op": "add", "path": "members", "value": [{"value": a} for a in add]}]
        if not add:
            addition = []
        if not removals and not addition:
            return
        try:
            self._patch_group(group_id, removals + addition)
            return
        except Refused as exc:
            if not removals or _status(exc) not in (400, 404):
                raise
        for operation in removals:
            try:
                self._patch_group(group_id, [operation])
            except Refused as exc:
                if _status(exc) not in (400, 404):  # noTarget: not a member any more
                    raise
        if addition:
            self._patch_group(group_id, addition)

    def _patch_group(self, group_id: str, operations: list[dict[str, Any]]) -> None:
        self._call(
            self.scim.modify,
            "Group",
            group_id,
            {"schemas": [PATCH_OP], "Operations": operations},
            check_request_payload=False,
            url=f"/Groups/{group_id}",
        )

    def users(self) -> Iterator[tuple[str, str, bool]]:
        """Every user of the app, paged: (id, userName, active)."""
        start = 1
        while True:
            page = self._call(
                self.scim.query,
                UserModel,
                query_parameters=SearchRequest(start_index=start, count=PAGE),
            )
            resources = page.resources or []
            for r in resources:
                yield r.id, r.user_name, r.active is not False
            start += len(resources)
            if not resources or start > (page.total_results or 0):
                return


def _status(exc: Exception) -> int | None:
    cause = exc.__cause__
    if isinstance(cause, UnexpectedStatusCodeException):
        return getattr(cause.source, "status_code", None) if cause.source is not None else None
    status = getattr(cause, "status", None)
    return int(status) if status is not None else None


def _conflict(exc: Exception) -> bool:
    return _status(exc) == 409 or getattr(exc.__cause__, "scim_type", None) == "uniqueness"


def _describe(exc: Exception) -> str:
    notes = "; ".join(getattr(exc, "__notes__", []) or [])
    text = f"{type(exc).__name__}: {exc}" + (f" ({notes})" if notes else "")
    return text[:500]


__all__ = ["AppClient", "Away", "Refused", "Remote", "user_resource"]
