"""scim2-tester's conformance checks against the hub, offline (its WSGI client).

Discovery and the protocol's corners must all pass. Its CRUD checks create resources
filled with random values: a User needs a valid CCCD (the hub's HR rule) and Groups are
read-only, so those are refused by design; their outcome is counted, not required."""

from __future__ import annotations

from scim2_tester import check_server
from scim2_tester.utils import Status

from tests.scim.conftest import scim_client, scim_token


def test_discovery_and_protocol_checks_pass(app, client, org):
    scim = scim_client(app, scim_token(app, client, ["scim:read", "scim:write"]))
    results = check_server(scim, include_tags={"discovery", "misc"})
    ran = [r for r in results if r.status is not Status.SKIPPED]
    failed = [(r.title, r.reason) for r in ran if r.status is not Status.SUCCESS]
    assert len(ran) >= 20 and not failed, failed
