"""provisioning.policy: HR snapshot + rules → the account the directory should hold.

Pure and fast: no servers. The builders and hypothesis strategies here are reused by
tests/provisioning/test_planner.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.dn import normalize_dn, parent_dn, rdn_value, split_dn
from provisioning.model import (
    AccountState,
    DesiredAccount,
    PersonSnapshot,
    PostKind,
    PostSnapshot,
    UnitSnapshot,
)
from provisioning.policy import desired_account
from provisioning.rules import Rules, load_rules

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules(ROOT / "idhub" / "defaults" / "rules.toml")
BASE = "dc=idhub,dc=gov,dc=vn"
TODAY = dt.date(2026, 4, 15)
LONG_AGO = dt.date(2020, 1, 1)
GROUPS = f"ou=groups,{BASE}"

HUB_ATTRIBUTES = {
    "objectClass", "uid", "cn", "sn", "givenName", "displayName", "mail", "title",
    "departmentNumber", "ou", "employeeNumber", "idhubPersonId", "idhubAccountStatus",
    "idhubManaged", "idhubMailbox", "idhubMailQuota", "idhubMailAlias", "idhubMailForward",
    "idhubMailBounce",
}  # fmt: skip

POSITIONS: dict[str, tuple[str, int]] = {
    "CT_UBND_TINH": ("Chủ tịch Ủy ban nhân dân tỉnh", 8),
    "PCT_UBND_TINH": ("Phó Chủ tịch Ủy ban nhân dân tỉnh", 7),
    "GIAM_DOC_SO": ("Giám đốc Sở", 6),
    "CT_UBND_XA": ("Chủ tịch Ủy ban nhân dân cấp xã", 4),
    "PCT_UBND_XA": ("Phó Chủ tịch Ủy ban nhân dân cấp xã", 3),
    "TRUONG_PHONG": ("Trưởng phòng", 2),
    "PHO_TRUONG_PHONG": ("Phó Trưởng phòng", 1),
    "CHUYEN_VIEN": ("Chuyên viên", 0),
    "VAN_THU": ("Văn thư", 0),
    "KE_TOAN": ("Kế toán", 0),
    "CNTT": ("Chuyên viên công nghệ thông tin", 0),
    "NOT_IN_RULES": ("Chức vụ chưa có trong quy tắc", 0),
}


# --------------------------------------------------------------------------- builders


def unit(
    *path: str,
    type: str = "department_division",
    mail_domain: str | None = "snv.laichau.gov.vn",
    names: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
) -> UnitSnapshot:
    names = tuple(names) if names is not None else tuple(f"Đơn vị {code}" for code in path)
    ids = tuple(ids) if ids is not None else tuple(f"id-{code}" for code in path)
    return UnitSnapshot(
        id=ids[-1],
        code=path[-1],
        name=names[-1],
        type=type,
        path=tuple(path),
        path_ids=ids,
        path_names=names,
        mail_domain=mail_domain,
    )


PROVINCE = unit("12", type="province_committee", mail_domain="laichau.gov.vn")
SNV = unit("12", "SNV", type="department")
TCCB = unit("12", "SNV", "SNV.TCCB", names=("UBND tỉnh", "Sở Nội vụ", "Phòng Tổ chức cán bộ"))
STC = unit("12", "STC", type="department", mail_domain="stc.laichau.gov.vn")
QLNS = unit("12", "STC", "STC.QLNS", mail_domain="stc.laichau.gov.vn")
COMMUNE = unit("12", "00123", type="commune_committee", mail_domain="laichau.gov.vn")
NO_MAIL = unit("99", "99.X", type="other", mail_domain=None)


def post(
    where: UnitSnapshot = TCCB,
    position: str = "CHUYEN_VIEN",
    *,
    kind: PostKind = PostKind.PRIMARY,
    start: dt.date = LONG_AGO,
    end: dt.date | None = None,
    level: int | None = None,
) -> PostSnapshot:
    name, default_level = POSITIONS.get(position, (position.title(), 0))
    return PostSnapshot(
        unit=where,
        position_code=position,
        position_name=name,
        leadership_level=default_level if level is None else level,
        kind=kind,
        start=start,
        end=end,
    )


def person(
    *posts: PostSnapshot,
    status: str = "active",
    today: dt.date = TODAY,
    username: str = "annv",
    id: str = "6f1c2d3e-0000-4000-8000-000000000001",
    family: str = "Nguyễn",
    middle: str = "Văn",
    given: str = "An",
    civil_servant_code: str | None = "CC-0001",
) -> PersonSnapshot:
    return PersonSnapshot(
        id=id,
        username=username,
        family_name=family,
        middle_name=middle,
        given_name=given,
        status=status,
        civil_servant_code=civil_servant_code,
        posts=tuple(posts),
        today=today,
    )


def desired(p: PersonSnapshot, rules: Rules = RULES) -> DesiredAccount:
    return desired_account(p, rules, base_dn=BASE)


def group(name: str) -> str:
    return f"cn={name},{GROUPS}"


def groups_of(d: DesiredAccount) -> set[str]:
    return {rdn_value(g) for g in d.groups}


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def tweak(
    rules: Rules = RULES,
    *,
    prehire_days: int | None = None,
    retention_days: int | None = None,
    delete_after_retention: bool | None = None,
    unit_groups: bool | None = None,
) -> Rules:
    """A copy of the rules with some settings changed."""
    joiner, leaver = rules.joiner, rules.leaver
    if prehire_days is not None:
        joiner = dataclasses.replace(joiner, prehire_days=prehire_days)
    if retention_days is not None:
        leaver = dataclasses.replace(leaver, retention_days=retention_days)
    if delete_after_retention is not None:
        leaver = dataclasses.replace(leaver, delete_after_retention=delete_after_retention)
    return dataclasses.replace(
        rules,
        joiner=joiner,
        leaver=leaver,
        unit_groups=rules.unit_groups if unit_groups is None else unit_groups,
    )


# --------------------------------------------------------------------------- joiner


def test_joiner_gets_enabled_account_in_unit_ou() -> None:
    d = desired(person(post(TCCB, "CHUYEN_VIEN", start=TODAY)))
    assert d.state is AccountState.ENABLED
    assert d.person_id == "6f1c2d3e-0000-4000-8000-000000000001"
    assert d.name == f"uid=annv,ou=SNV.TCCB,ou=SNV,ou=12,{BASE}"
    assert [c.name for c in d.containers] == [
        f"ou=12,{BASE}",
        f"ou=SNV,ou=12,{BASE}",
        f"ou=SNV.TCCB,ou=SNV,ou=12,{BASE}",
    ]
    assert d.containers[-1].unit_id == "id-SNV.TCCB"
    assert d.containers[1].attributes == {
        "objectClass": ("organizationalUnit", "idhubOrgUnit"),
        "ou": ("SNV",),
        "description": ("Sở Nội vụ",),
        "idhubUnitId": ("id-SNV",),
        "idhubManaged": ("TRUE",),
    }
    assert d.attributes == {
        "objectClass": ("inetOrgPerson", "idhubPerson"),
        "uid": ("annv",),
        "cn": ("Nguyễn Văn An",),
        "sn": ("Nguyễn",),
        "givenName": ("An",),
        "displayName": ("Nguyễn Văn An",),
        "mail": ("annv@snv.laichau.gov.vn",),
        "title": ("Chuyên viên",),
        "departmentNumber": ("SNV.TCCB",),
        "ou": ("Phòng Tổ chức cán bộ",),
        "employeeNumber": ("CC-0001",),
        "idhubPersonId": ("6f1c2d3e-0000-4000-8000-000000000001",),
        "idhubAccountStatus": ("active",),
        "idhubManaged": ("TRUE",),
        "idhubMailbox": ("6f/6f1c2d3e-0000-4000-8000-000000000001",),
        "idhubMailQuota": ("2147483648",),
        "idhubMailAlias": (),
        "idhubMailForward": (),
        "idhubMailBounce": (),
    }
    assert d.roles == ("department-staff", "staff")
    assert d.groups == {group("all-staff"), group("department-staff"), group("unit-snv.tccb")}
    assert d.quota_class == "standard"
    assert d.app_roles == ("document:user", "meeting:user", "personnel:self")
    assert d.reasons[0] == "enabled: 1 post held today, status active"
    assert "placed in SNV.TCCB: primary post CHUYEN_VIEN in SNV.TCCB" in d.reasons
    assert "default role → role staff" in d.reasons
    assert (
        "primary post CHUYEN_VIEN in SNV.TCCB: unit type department_division "
        "→ role department-staff"
    ) in d.reasons


def test_post_ending_today_is_still_active() -> None:
    assert desired(person(post(end=TODAY))).state is AccountState.ENABLED


# --------------------------------------------------------------------------- mover


def test_mover_changes_dn_mail_and_unit_groups_not_the_key() -> None:
    before = desired(person(post(TCCB, start=LONG_AGO)))
    after = desired(person(post(TCCB, end=TODAY - days(1)), post(QLNS, start=TODAY)))  # moved today
    assert before.person_id == after.person_id
    assert after.name == f"uid=annv,ou=STC.QLNS,ou=STC,ou=12,{BASE}"
    assert after.attributes["mail"] == ("annv@stc.laichau.gov.vn",)
    assert after.attributes["departmentNumber"] == ("STC.QLNS",)
    assert "unit-stc.qlns" in groups_of(after)
    assert "unit-snv.tccb" not in groups_of(after)


def test_handover_day_with_two_primary_posts_places_in_the_newest() -> None:
    d = desired(person(post(TCCB, end=TODAY), post(QLNS, start=TODAY)))
    assert d.attributes["departmentNumber"] == ("STC.QLNS",)
    assert {"unit-snv.tccb", "unit-stc.qlns"} <= groups_of(d)  # both posts still count


# --------------------------------------------------------------------------- position


def test_position_change_changes_roles_groups_quota_and_title() -> None:
    staff = desired(person(post(TCCB, "CHUYEN_VIEN")))
    head = desired(person(post(TCCB, "TRUONG_PHONG")))
    assert staff.name == head.name
    assert "manager" in head.roles and "manager" not in staff.roles
    assert "managers" in groups_of(head) and "managers" not in groups_of(staff)
    assert (staff.quota_class, head.quota_class) == ("standard", "large")
    assert head.attributes["title"] == ("Trưởng phòng",)
    assert "document:approver" in head.app_roles
    assert (
        "primary post TRUONG_PHONG in SNV.TCCB: leadership level 2 ≥ 1 → role manager"
        in head.reasons
    )


def test_leadership_thresholds_add_up_and_largest_quota_wins() -> None:
    d = desired(person(post(PROVINCE, "CT_UBND_TINH")))
    assert {"manager", "leader", "province-leader", "staff"} <= set(d.roles)
    assert d.quota_class == "leader"
    assert d.app_roles == tuple(sorted(d.app_roles))
    assert {"managers", "leaders", "province-leaders", "province-office"} <= groups_of(d)


def test_position_mapped_to_role() -> None:
    d = desired(person(post(TCCB, "VAN_THU")))
    assert "clerk" in d.roles
    assert "document:registrar" in d.app_roles
    assert "primary post VAN_THU in SNV.TCCB → role clerk" in d.reasons


def test_unknown_position_code_gets_default_and_unit_type_roles_only() -> None:
    d = desired(person(post(TCCB, "NOT_IN_RULES")))
    assert d.roles == ("department-staff", "staff")


# --------------------------------------------------------------------------- concurrent


def test_concurrent_post_adds_its_roles_and_groups_and_they_go_when_it_ends() -> None:
    main = post(TCCB, "CHUYEN_VIEN")
    it_job = post(COMMUNE, "CNTT", kind=PostKind.CONCURRENT, start=TODAY - days(30))
    plain = desired(person(main))
    both = desired(person(main, it_job))
    ended = desired(person(main, dataclasses.replace(it_job, end=TODAY - days(1))))

    assert both.name == plain.name  # placement follows the primary post
    assert {"it-staff", "commune-staff", "unit-00123"} <= groups_of(both)
    assert "it-officer" in both.roles and both.quota_class == "large"
    assert "concurrent post CNTT in 00123 → role it-officer" in both.reasons
    assert ended.groups == plain.groups
    assert ended.roles == plain.roles
    assert ended.quota_class == "standard"


def test_only_concurrent_posts_places_by_highest_level_then_start_then_code() -> None:
    low = post(TCCB, "CHUYEN_VIEN", kind=PostKind.CONCURRENT)
    high = post(COMMUNE, "PCT_UBND_XA", kind=PostKind.CONCURRENT, start=TODAY - days(3))
    d = desired(person(low, high))
    assert d.attributes["departmentNumber"] == ("00123",)
    assert "highest leadership level (3)" in d.reasons[1]

    early = post(QLNS, "CHUYEN_VIEN", kind=PostKind.CONCURRENT, start=LONG_AGO)
    late = post(TCCB, "CHUYEN_VIEN", kind=PostKind.CONCURRENT, start=TODAY)
    assert desired(person(late, early)).attributes["departmentNumber"] == ("STC.QLNS",)

    same_a = post(QLNS, "CHUYEN_VIEN", kind=PostKind.CONCURRENT)
    same_b = post(TCCB, "CHUYEN_VIEN", kind=PostKind.CONCURRENT)
    assert desired(person(same_a, same_b)).attributes["departmentNumber"] == ("SNV.TCCB",)


# --------------------------------------------------------------------------- leaver


def test_leaver_within_retention_is_disabled_in_former_without_groups() -> None:
    left = dt.date(2026, 3, 31)
    d = desired(person(post(TCCB, "TRUONG_PHONG", end=left)))
    assert d.state is AccountState.DISABLED
    assert d.name == f"uid=annv,ou=former,{BASE}"
    (former,) = d.containers
    assert former.name == f"ou=former,{BASE}"
    assert former.unit_id == ""
    assert former.attributes == {
        "objectClass": ("organizationalUnit",),
        "ou": ("former",),
        "description": ("Former staff",),
    }
    assert d.groups == frozenset()
    assert (d.roles, d.app_roles, d.quota_class) == ((), (), None)
    assert d.attributes["idhubAccountStatus"] == ("disabled",)
    assert d.attributes["title"] == d.attributes["departmentNumber"] == d.attributes["ou"] == ()
    assert d.attributes["mail"] == ("annv@snv.laichau.gov.vn",)  # kept for forwarding
    assert d.attributes["cn"] == ("Nguyễn Văn An",)
    assert d.reasons[0] == "disabled: left on 2026-03-31; retention until 2026-06-29"
    assert set(d.attributes) == HUB_ATTRIBUTES - {"idhubMailQuota"}  # kept as it was


def test_retention_boundary_then_absent() -> None:
    left = dt.date(2026, 3, 31)
    last_day = left + days(RULES.leaver.retention_days)
    assert desired(person(post(end=left), today=last_day)).state is AccountState.DISABLED
    gone = desired(person(post(end=left), today=last_day + days(1)))
    assert gone.state is AccountState.ABSENT
    assert gone.reasons[0] == "absent: left on 2026-03-31; retention ended on 2026-06-29"
    assert (gone.groups, gone.containers, gone.attributes) == (frozenset(), (), {})


def test_after_retention_kept_disabled_when_deletion_is_off() -> None:
    rules = tweak(delete_after_retention=False)
    d = desired(person(post(end=dt.date(2020, 6, 30))), rules)
    assert d.state is AccountState.DISABLED
    assert d.name == f"uid=annv,ou=former,{BASE}"


def test_leaver_returning_later_is_kept_after_retention() -> None:
    d = desired(person(post(end=dt.date(2025, 1, 1)), post(QLNS, start=TODAY + days(200))))
    assert d.state is AccountState.DISABLED
    assert "kept for the post starting on 2026-11-01" in d.reasons[0]
    assert d.name == f"uid=annv,ou=former,{BASE}"


def test_latest_end_counts_for_retention() -> None:
    posts = (post(end=dt.date(2025, 1, 1)), post(COMMUNE, kind=PostKind.CONCURRENT,
                                                  end=TODAY - days(5)))  # fmt: skip
    d = desired(person(*posts))
    assert d.state is AccountState.DISABLED
    assert d.attributes["mail"] == ("annv@laichau.gov.vn",)  # the post that ended last


# --------------------------------------------------------------------------- suspended


@pytest.mark.parametrize("status", ["suspended", "left"])
def test_not_active_status_with_post_is_disabled_in_place(status: str) -> None:
    d = desired(person(post(TCCB, "TRUONG_PHONG"), status=status))
    assert d.state is AccountState.DISABLED
    assert d.name == f"uid=annv,ou=SNV.TCCB,ou=SNV,ou=12,{BASE}"
    assert d.attributes["title"] == ("Trưởng phòng",)
    assert d.attributes["idhubAccountStatus"] == ("disabled",)
    assert d.groups == frozenset() and d.roles == ()
    assert d.reasons[0] == f"disabled: status {status} (1 post held today)"


# --------------------------------------------------------------------------- pre-hire


def test_prehire_creates_disabled_account_in_future_unit() -> None:
    rules = tweak(prehire_days=14)
    soon = TODAY + days(10)
    d = desired(
        person(
            post(COMMUNE, "CNTT", kind=PostKind.CONCURRENT, start=soon - days(2)),
            post(QLNS, "CHUYEN_VIEN", start=soon),
        ),
        rules,
    )
    assert d.state is AccountState.DISABLED
    assert d.attributes["departmentNumber"] == ("STC.QLNS",)  # primary preferred
    assert d.attributes["title"] == ("Chuyên viên",)
    assert d.attributes["idhubAccountStatus"] == ("disabled",)
    assert d.groups == frozenset()
    assert "pre-provisioned" in d.reasons[0]


def test_future_post_beyond_prehire_means_absent() -> None:
    rules = tweak(prehire_days=14)
    d = desired(person(post(start=TODAY + days(15))), rules)
    assert d.state is AccountState.ABSENT
    assert "beyond the prehire window of 14 days" in d.reasons[0]
    # prehire 0: even tomorrow is too early
    assert desired(person(post(start=TODAY + days(1)))).state is AccountState.ABSENT
    assert desired(person(post(start=TODAY))).state is AccountState.ENABLED


def test_person_without_posts_is_absent() -> None:
    d = desired(person())
    assert d.state is AccountState.ABSENT
    assert d.reasons == ("absent: no post",)
    assert (d.groups, d.containers, d.roles) == (frozenset(), (), ())


# --------------------------------------------------------------------------- values


TRICKY = ["A,B", "x+y", 'say "hi"', " lead", "trail ", "#hash", "k=v", "back\\slash", "a;b<c>"]


@pytest.mark.parametrize("code", TRICKY)
def test_tricky_unit_codes_and_names_are_escaped_in_dns(code: str) -> None:
    u = unit("12", code, names=("UBND tỉnh", f'Sở {code}, Tổ + "1"'), type="department")
    d = desired(person(post(u)))
    rdns = split_dn(d.name)
    assert [rdn[0][1] for rdn in rdns[:3]] == ["annv", code, "12"]
    assert len(rdns) == 3 + len(split_dn(BASE))
    assert parent_dn(d.name) == d.containers[-1].name
    assert d.containers[-1].attributes["ou"] == (code,)
    assert d.containers[-1].attributes["description"] == (f'Sở {code}, Tổ + "1"',)
    assert d.attributes["departmentNumber"] == (code,)
    unit_group = next(g for g in d.groups if rdn_value(g).startswith("unit-"))
    assert rdn_value(unit_group) == "unit-" + code.lower()
    assert normalize_dn(parent_dn(unit_group)) == normalize_dn(GROUPS)


def test_names_are_nfc_and_empty_names_are_absent_attributes() -> None:
    nfd = unicodedata.normalize("NFD", "Đặng Thị Ngọc Ánh")
    d = desired(person(post(), family=nfd.split()[0], middle="", given=""))
    assert d.attributes["cn"] == ("Đặng",)
    assert unicodedata.is_normalized("NFC", d.attributes["cn"][0])
    assert d.attributes["givenName"] == ()
    assert d.attributes["sn"] == ("Đặng",)
    only_given = desired(person(post(), family="", middle="", given="Ánh"))
    assert only_given.attributes["sn"] == ("Ánh",)
    nobody = desired(person(post(), family="", middle="", given="", civil_servant_code=None))
    assert nobody.attributes["cn"] == nobody.attributes["sn"] == ("annv",)
    assert nobody.attributes["employeeNumber"] == ()


def test_mail_domain_inherited_lowercased_or_absent() -> None:
    inherited = unit("12", "SNV", "SNV.TCCB", "SNV.TCCB.T1", mail_domain="SNV.LaiChau.gov.vn")
    assert desired(person(post(inherited))).attributes["mail"] == ("annv@snv.laichau.gov.vn",)
    assert desired(person(post(NO_MAIL))).attributes["mail"] == ()


def test_unit_groups_off() -> None:
    rules = tweak(unit_groups=False)
    d = desired(person(post()), rules)
    assert not any(g.startswith("unit-") for g in groups_of(d))


def test_bad_unit_path_is_refused() -> None:
    broken = dataclasses.replace(TCCB, path_ids=("x",))
    with pytest.raises(ValueError, match="equal length"):
        desired(person(post(broken)))


# --------------------------------------------------------------------------- properties

ALPHABET = "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯáàảãạếềểễệốồổỗộứừửữự ,+\"'#=\\;<>-"

UNITS = [
    PROVINCE, SNV, TCCB, STC, QLNS, COMMUNE, NO_MAIL,
    unit("12", "A,B+C", type="department", names=("UBND tỉnh", 'Sở "A, B" + C')),
    unit("12", " lead", "#x=y\\z", names=("UBND tỉnh", " Lead", "Tổ #1"), mail_domain=None),
    unit("12", "SNV", "snv.tccb", ids=("id-12", "id-SNV", "id-other-tccb")),  # case twin
]  # fmt: skip

names = st.text(alphabet=ALPHABET, max_size=12)
dates = st.integers(min_value=-900, max_value=60).map(lambda n: TODAY + days(n))


@st.composite
def posts(draw: st.DrawFn) -> PostSnapshot:
    start = draw(dates)
    end = draw(st.none() | st.integers(min_value=-1, max_value=900).map(lambda n: start + days(n)))
    return post(
        draw(st.sampled_from(UNITS)),
        draw(st.sampled_from(sorted(POSITIONS))),
        kind=draw(st.sampled_from(PostKind)),
        start=start,
        end=end,
    )


@st.composite
def persons(draw: st.DrawFn, person_id: str | None = None) -> PersonSnapshot:
    return person(
        *draw(st.lists(posts(), max_size=4)),
        status=draw(st.sampled_from(["active", "active", "suspended", "left"])),
        username=draw(st.sampled_from(["annv", "anhdtn", "an.nv", "annv2"])),
        id=person_id or "6f1c2d3e-0000-4000-8000-000000000001",
        family=draw(names),
        middle=draw(names),
        given=draw(names),
        civil_servant_code=draw(st.none() | st.sampled_from(["CC-1", "CC 2, x"])),
    )


rule_sets = st.builds(
    lambda prehire, retention, delete, unit_groups: tweak(
        prehire_days=prehire,
        retention_days=retention,
        delete_after_retention=delete,
        unit_groups=unit_groups,
    ),
    st.sampled_from([0, 14]),
    st.sampled_from([0, 90]),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(p=persons(), rules=rule_sets, order=st.randoms(use_true_random=False))
def test_policy_invariants(p: PersonSnapshot, rules: Rules, order: object) -> None:
    d = desired(p, rules)
    shuffled = list(p.posts)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    assert desired(dataclasses.replace(p, posts=tuple(shuffled)), rules) == d  # deterministic

    enabled = d.state is AccountState.ENABLED
    assert bool(d.groups) == enabled  # staff always has all-staff
    assert bool(d.roles) == enabled
    assert d.roles == tuple(sorted(d.roles)) and d.app_roles == tuple(sorted(d.app_roles))
    if d.state is AccountState.ABSENT:
        assert d.attributes == {} and d.containers == ()
        return
    # a disabled account keeps whatever quota it had (the hub does not own it then)
    assert set(d.attributes) == HUB_ATTRIBUTES - (set() if enabled else {"idhubMailQuota"})
    for values in d.attributes.values():
        assert all(v and unicodedata.is_normalized("NFC", v) for v in values)
    assert d.attributes["idhubAccountStatus"] == (("active",) if enabled else ("disabled",))
    # containers chain root first, and the account sits in the last one
    parent = BASE
    for container in d.containers:
        assert normalize_dn(parent_dn(container.name)) == normalize_dn(parent)
        parent = container.name
    assert parent_dn(d.name) == d.containers[-1].name
    assert rdn_value(d.name) == p.username
    for g in d.groups:
        assert normalize_dn(parent_dn(g)) == normalize_dn(GROUPS)
