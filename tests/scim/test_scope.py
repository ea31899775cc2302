"""A subtree-limited SCIM client sees, counts and touches only its subtree."""

from __future__ import annotations

from urllib.parse import quote

from tests.scim.conftest import joiner, subtree_raw

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_a_subtree_client_sees_and_counts_only_its_subtree(app, client, org):
    commune = subtree_raw(app, client, org["commune"]["id"])
    listing = commune("GET", "/Users").json
    assert listing["totalResults"] == 1
    assert [u["id"] for u in listing["Resources"]] == [org["cuong"]["id"]]
    everyone = commune("GET", "/Users?filter=" + quote("userName pr")).json
    assert everyone["totalResults"] == 1
    assert commune("GET", f"/Users/{org['an']['id']}").status_code == 404
    groups = {g["id"] for g in commune("GET", "/Groups").json["Resources"]}
    assert "unit-snv" not in groups and "unit-03388" in groups


def test_a_subtree_client_cannot_touch_outside(app, client, org, raw):
    commune = subtree_raw(app, client, org["commune"]["id"])
    an = f"/Users/{org['an']['id']}"
    replace = {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": False}]}  # fmt: skip
    assert commune("PATCH", an, replace).status_code == 404
    assert commune("DELETE", an).status_code == 404
    outside = commune("POST", "/Users", joiner(unit_code="SNV"))
    assert outside.status_code == 403
    assert (
        raw("GET", "/Users?filter=" + quote('employeeNumber eq "CC900"')).json["totalResults"] == 0
    )  # nothing written
    inside = commune("POST", "/Users", joiner(unit_code="03388"))
    assert inside.status_code == 201, inside.json
    assert commune("GET", "/Users").json["totalResults"] == 2
    bulk = commune("POST", "/Bulk", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "DELETE", "path": an}],
    })  # fmt: skip
    assert bulk.json["Operations"][0]["status"] == "404"
    assert raw("GET", an).json["active"] is True
