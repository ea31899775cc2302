"""Reading through a real SCIM client (scim2-client): discovery, filters, paging, sorting,
errors in the SCIM format."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from scim2_models import EnterpriseUser, Error, ListResponse, SearchRequest, User

from idhub.scim.models import IdhubUser
from tests.scim.conftest import ENT, HUB, SCIM_JSON, scim_client, scim_token

HubUser = User[EnterpriseUser | IdhubUser]


def names(listing) -> set[str]:
    return {u.user_name for u in listing.resources or []}


def search(scim, text: str | None = None, **kw) -> ListResponse:
    found = scim.query(HubUser, query_parameters=SearchRequest(filter=text, **kw))
    assert isinstance(found, ListResponse), found
    return found


def test_discovery_describes_the_hub(scim):
    config = scim.provider.config
    assert config.patch.supported and config.bulk.supported and config.etag.supported
    assert config.filter.max_results == 1000
    assert {t.id for t in scim.provider.resource_types} == {"User", "Group"}


def test_a_user_carries_the_hub_and_enterprise_extensions(scim, org):
    user = scim.query(HubUser, org["an"]["id"])
    assert user.user_name == org["an"]["username"]
    assert (user.name.family_name, user.name.middle_name, user.name.given_name) == (
        "Nguyễn",
        "Văn",
        "An",
    )
    assert user.active is True
    assert user.emails[0].value == f"{org['an']['username']}@laichau.gov.vn"
    assert user[EnterpriseUser].employee_number == "CC001"
    assert user[EnterpriseUser].department == "Sở Nội vụ"
    hub = user[IdhubUser]
    assert hub.unit_code == "SNV" and hub.posts[0].kind == "primary"
    assert hub.national_id is None  # personal data: not without scim:personal
    assert "unit-snv" in {g.value for g in user.groups}
    assert user.meta.version == 'W/"1"'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('userName eq "{an}"', {"an"}),
        ('userName ne "{an}"', {"binh", "cuong"}),
        ('name.familyName co "guy"', {"an"}),
        ('displayName sw "tran thi"', {"binh"}),  # diacritics ignored
        ('displayName ew "Cường"', {"cuong"}),
        (f"{ENT}:employeeNumber pr", {"an"}),
        ('employeeNumber eq "cc001"', {"an"}),  # case-insensitive
        (f'{HUB}:unitCode eq "03388"', {"cuong"}),
        ('department co "nội vụ"', {"an", "binh"}),
        ('userName eq "{an}" or userName eq "{binh}"', {"an", "binh"}),
        ('not (userName eq "{an}") and active eq true', {"binh", "cuong"}),
        ('emails[type eq "work" and value eq "{an}@laichau.gov.vn"]', {"an"}),
        ('meta.lastModified gt "2000-01-01T00:00:00Z"', {"an", "binh", "cuong"}),
        ('meta.created lt "2000-01-01T00:00:00Z"', set()),
    ],
)
def test_filters(scim, org, text, expected):
    usernames = {k: org[k]["username"] for k in ("an", "binh", "cuong")}
    found = search(scim, text.format(**usernames))
    assert names(found) == {usernames[k] for k in expected}
    assert found.total_results == len(expected)


def test_incremental_sync_sees_a_change_to_a_post(scim, api, org):
    watermark = max(u.meta.last_modified for u in search(scim).resources).isoformat()
    assert search(scim, f'meta.lastModified gt "{watermark}"').total_results == 0
    post = api.get(f"/api/v1/people/{org['binh']['id']}/assignments").json[0]
    api.patch_fresh(f"/api/v1/assignments/{post['id']}", {"decision_ref": "QĐ 12/2026"})
    changed = search(scim, f'meta.lastModified gt "{watermark}"')
    assert names(changed) == {org["binh"]["username"]}
    older = search(scim, f'meta.lastModified le "{watermark}"')
    assert names(older) == {org["an"]["username"], org["cuong"]["username"]}


def test_paging_and_sorting(scim, org):
    ordered = sorted(org[k]["username"] for k in ("an", "binh", "cuong"))
    first = search(scim, sort_by="userName", start_index=1, count=2)
    assert first.total_results == 3 and first.items_per_page == 2
    assert [u.user_name for u in first.resources] == ordered[:2]
    rest = search(scim, sort_by="userName", start_index=3, count=2)
    assert [u.user_name for u in rest.resources] == ordered[2:]
    down = search(scim, sort_by="userName", sort_order="descending")
    assert [u.user_name for u in down.resources] == ordered[::-1]


def test_attributes_parameter(raw, org):
    body = raw("GET", "/Users?attributes=userName&count=1").json
    assert set(body["Resources"][0]) == {"schemas", "id", "userName"}


@pytest.mark.parametrize(
    ("text", "scim_type"),
    [
        ("userName eq", "invalidFilter"),
        ('nickName eq "x"', "invalidFilter"),  # not stored by the hub: refused, not ignored
        ('meta.lastModified gt "yesterday"', "invalidFilter"),
        (f'{HUB}:nationalId eq "001090000001"', "invalidFilter"),  # needs scim:personal
    ],
)
def test_unsupported_filters_are_400_invalid_filter(raw, org, text, scim_type):
    response = raw("GET", "/Users?filter=" + quote(text))
    assert response.status_code == 400, response.json
    assert response.mimetype == SCIM_JSON
    assert response.json["scimType"] == scim_type
    assert response.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_unknown_user_is_a_scim_404(scim, raw):
    found = scim.query(HubUser, "01a2472f-0000-7000-8000-000000000000", raise_scim_errors=False)
    assert isinstance(found, Error) and found.status == 404
    assert raw("GET", "/Users/not-a-uuid").status_code == 404


def test_without_a_token_or_scope(app, client, org):
    response = client.get("/scim/v2/Users")
    assert response.status_code == 401 and response.mimetype == SCIM_JSON
    assert response.json["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    hr_only = scim_token(app, client, ["hr:write"])
    denied = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {hr_only}"})
    assert denied.status_code == 403


def test_groups_follow_the_rules_and_are_read_only(scim, raw, org):
    from scim2_models import Group

    groups = scim.query(Group)
    by_name = {g.id: g for g in groups.resources}
    assert {m.value for m in by_name["unit-snv"].members} == {org["an"]["id"], org["binh"]["id"]}
    one = raw("GET", '/Groups?filter=displayName eq "unit-03388"').json
    assert one["totalResults"] == 1
    assert raw("POST", "/Groups", {"displayName": "x"}).status_code == 501


def test_personal_scope_shows_cccd_and_finds_by_it(app, client, org):
    scim = scim_client(app, scim_token(app, client, ["scim:read", "scim:personal"]))
    user = scim.query(HubUser, org["an"]["id"])
    assert user[IdhubUser].national_id == org["an"]["national_id"]
    found = search(scim, f'{HUB}:nationalId eq "{org["an"]["national_id"]}"')
    assert names(found) == {org["an"]["username"]}
