"""Application roles per app, bound to a unit, and delegated (provisioning.app_roles)."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import pytest

from provisioning.app_roles import DelegationSpec, delegated_roles, roles_for_app
from provisioning.model import PostKind
from provisioning.rules import RulesError, parse_rules
from tests.provisioning.test_policy import COMMUNE, TCCB, TODAY, days, desired, person, post

SHIPPED = Path(__file__).parents[2] / "idhub" / "defaults" / "rules.toml"


def shipped() -> dict[str, Any]:
    return tomllib.loads(SHIPPED.read_text(encoding="utf-8"))


def test_a_chair_holds_meeting_chair_for_the_unit_of_the_post_only() -> None:
    chair = desired(person(post(COMMUNE, "CT_UBND_XA")))
    assert ("00123", "meeting:chair") in chair.unit_app_roles
    assert "meeting:chair" not in chair.app_roles  # not everywhere
    assert "meeting:user" in chair.app_roles
    assert "primary post CT_UBND_XA in 00123: role meeting-chair → meeting:chair@00123" in (
        chair.reasons
    )
    meetings = roles_for_app(chair, "meeting")
    assert meetings.everywhere == ("meeting:user",)
    assert meetings.by_unit == (("00123", "meeting:chair"),)
    assert roles_for_app(chair, "document").by_unit == ()  # another app sees none of it


def test_a_concurrent_leading_post_adds_its_own_unit() -> None:
    p = person(
        post(COMMUNE, "CT_UBND_XA"),
        post(TCCB, "TRUONG_PHONG", kind=PostKind.CONCURRENT, level=3),
    )
    assert {u for u, _ in desired(p).unit_app_roles} == {"00123", "SNV.TCCB"}


def test_delegation_gives_the_delegators_roles_within_its_dates_only() -> None:
    chair = desired(person(post(COMMUNE, "CT_UBND_XA")))
    spec = DelegationSpec("meeting", TODAY, TODAY + days(2), ("meeting:chair",), "00123")
    assert delegated_roles(chair, spec, TODAY).by_unit == (("00123", "meeting:chair"),)
    assert delegated_roles(chair, spec, TODAY + days(2)).by_unit  # end date inclusive
    assert delegated_roles(chair, spec, TODAY - days(1)).is_empty()
    assert delegated_roles(chair, spec, TODAY + days(3)).is_empty()
    # a unit the delegator does not chair passes no chair role, only their general roles
    other = dataclasses.replace(spec, unit="SNV.TCCB")
    assert delegated_roles(chair, other, TODAY).by_unit == ()
    # all roles, all units
    everything = DelegationSpec("meeting", TODAY, TODAY)
    given = delegated_roles(chair, everything, TODAY)
    assert given.everywhere == ("meeting:user",)
    assert given.by_unit == (("00123", "meeting:chair"),)


def test_a_delegator_who_lost_the_post_passes_nothing_on() -> None:
    gone = desired(person(post(COMMUNE, "CT_UBND_XA", end=TODAY - days(200))))
    spec = DelegationSpec("meeting", TODAY, TODAY)
    assert delegated_roles(gone, spec, TODAY).is_empty()


def test_vietnamese_role_names_are_allowed_lower_case_nfc() -> None:
    data = shipped()
    data["roles"]["clerk"]["app_roles"] = ["document:văn-thư"]
    rules = parse_rules(data)
    assert rules.roles["clerk"].app_roles == ("document:văn-thư",)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("document:Ăn-trưa", "roles.clerk.app_roles[0]: application role 'document:Ăn-trưa' must"),
        ("document:Van", "roles.clerk.app_roles[0]: invalid application role"),
        ("document:van thu", "roles.clerk.app_roles[0]: invalid application role"),
        ("văn:thư", "roles.clerk.app_roles[0]: invalid application role"),
        ("document:_x", "roles.clerk.app_roles[0]: invalid application role"),
    ],
)
def test_bad_app_roles_are_reported_with_their_place(value: str, message: str) -> None:
    data = shipped()
    data["roles"]["clerk"]["app_roles"] = [value]
    with pytest.raises(RulesError) as caught:
        parse_rules(data)
    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


def test_per_unit_mistakes_are_reported_with_their_place() -> None:
    data = copy.deepcopy(shipped())
    data["roles"]["accountant"]["per_unit"] = True  # no app roles to bind
    data["roles"]["clerk"]["per_unit"] = "yes"
    with pytest.raises(RulesError) as caught:
        parse_rules(data)
    problems = caught.value.problems
    assert any(p.startswith("roles.accountant.per_unit: a role bound to a unit") for p in problems)
    assert any(p.startswith("roles.clerk.per_unit:") for p in problems), problems
