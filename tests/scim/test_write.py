"""An HR system writing through SCIM: a joiner with the REST API's rules, audit and
provisioning (into the real slapd), changes under ETags, leavers, Bulk, bad input refused
with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from scim2_models import EnterpriseUser, Error, PatchOp, PatchOperation, User
from sqlalchemy import func, select

from idhub.models import AuditEvent, Person, ProvisioningJob
from idhub.scim.models import IdhubUser
from tests.fixtures.provisioning import drain, entry
from tests.scim.conftest import ENT, HUB, SCIM_JSON, joiner

HubUser = User[EnterpriseUser | IdhubUser]
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"


def counts(app) -> tuple[int, int, int]:
    with app.extensions["idhub"].db.session(write=False) as session:
        return (
            session.scalar(select(func.count()).select_from(Person)),
            session.scalar(select(func.count()).select_from(AuditEvent)),
            session.scalar(select(func.count()).select_from(ProvisioningJob)),
        )


def test_a_scim_joiner_is_audited_and_appears_in_the_directory(app, scim, org):
    user = HubUser.model_validate(joiner(), scim_ctx=None)
    created = scim.create(user)
    assert created.user_name == "hoapt"  # issued by the hub, not the client's
    assert created.name.given_name == "Hoà" and created.meta.version == 'W/"1"'
    assert created[IdhubUser].posts[0].unit_code == "SNV"
    with app.extensions["idhub"].db.session(write=False) as session:
        actions = set(
            session.scalars(select(AuditEvent.action).where(AuditEvent.actor_type == "client"))
        )
        jobs = session.scalar(
            select(func.count())
            .select_from(ProvisioningJob)
            .where(ProvisioningJob.subject_id == __import__("uuid").UUID(created.id))
        )
    assert {"person.create", "assignment.create"} <= actions
    assert jobs >= 1
    drain(app)
    dn, attrs = entry(app, created.id)
    assert attrs["uid"] == ["hoapt"] and attrs["cn"] == ["Phạm Thị Hoà"]
    assert "ou=SNV" in dn


@pytest.mark.parametrize(
    ("change", "scim_type"),
    [
        ({HUB: {"nationalId": "12345"}}, "invalidValue"),  # a CCCD has 12 digits
        (
            {
                HUB: {
                    "nationalId": "001090000123",
                    "posts": [{"unitCode": "NOWHERE", "positionCode": "CHUYEN_VIEN"}],
                }
            },
            "invalidValue",
        ),
        ({"name": {"familyName": "Phạm", "givenName": "x" * 101}}, "invalidValue"),
        ({ENT: {"employeeNumber": "CC001"}}, "uniqueness"),  # An's code
        ({"active": False}, "invalidValue"),
    ],
)
def test_bad_joiners_are_refused_with_nothing_written(app, raw, org, change, scim_type):
    before = counts(app)
    body: dict[str, Any] = {**joiner(), **change}
    response = raw("POST", "/Users", body)
    assert response.status_code in (400, 409), response.json
    assert response.mimetype == SCIM_JSON and response.json["scimType"] == scim_type
    assert counts(app) == before


def test_a_joiner_posted_twice_is_a_uniqueness_conflict(raw, org):
    assert raw("POST", "/Users", joiner()).status_code == 201
    again = raw("POST", "/Users", joiner(code="CC901"))  # same CCCD
    assert again.status_code == 409 and again.json["scimType"] == "uniqueness"


def test_patch_with_etags(raw, org):
    path = f"/Users/{org['an']['id']}"
    etag = raw("GET", path).headers["ETag"]
    assert etag == 'W/"1"'
    ops = {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "name.givenName", "value": "Ân"},
        {"op": "add", "path": f"{ENT}:employeeNumber", "value": "CC777"},
    ]}  # fmt: skip
    changed = raw("PATCH", path, ops, **{"If-Match": etag})
    assert changed.status_code == 200, changed.json
    assert changed.json["name"]["givenName"] == "Ân" and changed.headers["ETag"] == 'W/"2"'
    assert changed.json[ENT]["employeeNumber"] == "CC777"
    stale = raw("PATCH", path, ops, **{"If-Match": etag})
    assert stale.status_code == 412
    removed = raw("PATCH", path, {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f"{ENT}:employeeNumber"}]})  # fmt: skip
    assert removed.status_code == 200 and "employeeNumber" not in removed.json.get(ENT, {})


def test_patch_through_the_client_library(scim, org):
    patch = PatchOp[HubUser](
        operations=[PatchOperation[HubUser](op="replace", path="name.familyName", value="Ngô")]
    )
    scim.modify(HubUser, org["binh"]["id"], patch)
    assert scim.query(HubUser, org["binh"]["id"]).name.family_name == "Ngô"


def test_read_only_and_post_changes_are_refused(raw, org):
    path = f"/Users/{org['an']['id']}"
    posts = raw("PATCH", path, {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": f"{HUB}:posts", "value": []}]})  # fmt: skip
    assert posts.status_code == 400 and posts.json["scimType"] == "mutability"
    groups = raw("PATCH", path, {"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "groups", "value": [{"value": "x"}]}]})  # fmt: skip
    assert groups.status_code == 400
    assert raw("GET", path).headers["ETag"] == 'W/"1"'


def test_put_replaces_names(raw, org):
    path = f"/Users/{org['cuong']['id']}"
    current = raw("GET", path).json
    current["name"] = {"familyName": "Lê", "middleName": "Văn", "givenName": "Cường"}
    replaced = raw("PUT", path, current, **{"If-Match": 'W/"1"'})
    assert replaced.status_code == 200, replaced.json
    assert replaced.json["displayName"] == "Lê Văn Cường"


def test_active_false_and_delete_are_the_leaver_path(app, api, raw, org):
    drain(app)
    an = f"/Users/{org['an']['id']}"
    off = raw("PATCH", an, {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})  # fmt: skip
    assert off.status_code == 200 and off.json["active"] is False
    assert api.get(f"/api/v1/people/{org['an']['id']}").json["status"] == "left"
    binh = f"/Users/{org['binh']['id']}"
    assert raw("DELETE", binh, **{"If-Match": 'W/"9"'}).status_code == 412
    assert raw("DELETE", binh).status_code == 204
    kept = raw("GET", binh)  # history, not deleted: still readable, inactive
    assert kept.status_code == 200 and kept.json["active"] is False
    drain(app)
    for person in (org["an"], org["binh"]):
        _, attrs = entry(app, person["id"])
        assert attrs["idhubAccountStatus"] != ["active"]


def test_bulk_with_bulk_ids_and_fail_on_errors(app, raw, org):
    ops = [
        {"method": "POST", "path": "/Users", "bulkId": "hoa", "data": joiner()},
        {"method": "PATCH", "path": "/Users/bulkId:hoa", "data": {"schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "name.givenName", "value": "Hoa"}]}},
        {"method": "POST", "path": "/Users", "bulkId": "bad", "data": joiner(cccd="1")},
        {"method": "PATCH", "path": "/Users/bulkId:bad", "data": {"schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "active", "value": False}]}},
        {"method": "DELETE", "path": f"/Users/{org['cuong']['id']}"},
    ]  # fmt: skip
    response = raw("POST", "/Bulk", {"schemas": [BULK], "failOnErrors": 2, "Operations": ops})
    assert response.status_code == 200, response.json
    results = response.json["Operations"]
    assert [r["status"] for r in results] == ["201", "200", "400", "400"]  # stopped at 2
    assert results[0]["location"].endswith("/Users/" + results[1]["location"].rsplit("/", 1)[1])
    assert results[2]["response"]["scimType"] == "invalidValue"
    hoa = raw("GET", results[0]["location"].split("/scim/v2", 1)[1]).json
    assert hoa["name"]["givenName"] == "Hoa"
    assert raw("GET", f"/Users/{org['cuong']['id']}").json["active"] is True  # not reached


def test_bulk_through_the_client_library(scim, org):
    from scim2_models import BulkOperation, BulkRequest

    request = BulkRequest[HubUser](operations=[
        BulkOperation[HubUser](method="POST", path="/Users", bulk_id="n1", data=joiner()),
    ])  # fmt: skip
    response = scim.bulk(request)
    assert not isinstance(response, Error)
    assert response.operations[0].status == 201


def test_a_failed_bulk_operation_leaves_no_trace_and_the_audit_chain_whole(app, raw, org):
    """The second joiner fails after its person was recorded (the unit is unknown): its
    audit event and converge job go with its savepoint; the chain still verifies."""
    before = counts(app)
    lost = joiner(cccd="001090000124", code="CC902")
    lost[HUB]["posts"][0]["unitCode"] = "NOWHERE"
    ops = [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": joiner()},
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": lost},
        {"method": "POST", "path": "/Users", "bulkId": "c",
         "data": joiner(cccd="001090000125", code="CC903")},
    ]  # fmt: skip
    response = raw("POST", "/Bulk", {"schemas": [BULK], "Operations": ops})
    assert [r["status"] for r in response.json["Operations"]] == ["201", "400", "201"]
    people, events, jobs = counts(app)
    assert people == before[0] + 2
    hub = app.extensions["idhub"]
    with hub.db.session(write=False) as session:
        assert hub.audit.verify_session(session).ok
        subjects = set(session.scalars(select(ProvisioningJob.subject_id)))
        known = set(session.scalars(select(Person.id)))
    assert subjects <= known  # no job for the person rolled back


def test_a_bulk_of_joiners_goes_all_at_once_or_one_by_one(app, raw, org):
    """Joiners only take the REST batch path together; when the batch refuses one (a CCCD
    already used), each runs on its own and only that one fails."""
    together = [
        {"method": "POST", "path": "/Users", "bulkId": f"j{n}",
         "data": joiner(cccd=f"00109000020{n}", code=f"CC95{n}")}
        for n in range(3)
    ]  # fmt: skip
    response = raw("POST", "/Bulk", {"schemas": [BULK], "Operations": together})
    assert [r["status"] for r in response.json["Operations"]] == ["201", "201", "201"]
    assert [r["bulkId"] for r in response.json["Operations"]] == ["j0", "j1", "j2"]
    first = raw("GET", response.json["Operations"][0]["location"].split("/scim/v2", 1)[1]).json
    assert first[HUB]["posts"][0]["unitCode"] == "SNV"
    mixed = [
        {"method": "POST", "path": "/Users", "data": joiner(cccd="001090000301", code="CC961")},
        {"method": "POST", "path": "/Users", "data": joiner(cccd="001090000200", code="CC962")},
        {"method": "POST", "path": "/Users", "data": joiner(cccd="001090000302", code="CC963")},
    ]
    response = raw("POST", "/Bulk", {"schemas": [BULK], "Operations": mixed})
    assert [r["status"] for r in response.json["Operations"]] == ["201", "409", "201"]
    hub = app.extensions["idhub"]
    with hub.db.session(write=False) as session:
        assert hub.audit.verify_session(session).ok
