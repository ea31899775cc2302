"""provisioning.rules: the shipped idhub/defaults/rules.toml, and every validation error with
its place."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from provisioning.naming import PATTERNS
from provisioning.rules import (
    UNIT_TYPES,
    LeadershipRule,
    Rules,
    RulesError,
    load_rules,
    parse_rules,
)

ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = ROOT / "idhub" / "defaults" / "rules.toml"


def shipped() -> dict[str, Any]:
    with open(RULES_FILE, "rb") as f:
        return tomllib.load(f)


# --------------------------------------------------------------------------- shipped file


def test_shipped_rules_load() -> None:
    rules = load_rules(RULES_FILE)
    assert rules.naming.pattern == "given.familyinitials"
    assert (rules.directory.groups_ou, rules.directory.former_ou) == ("groups", "former")
    assert (rules.leaver.retention_days, rules.leaver.delete_after_retention) == (90, True)
    assert rules.joiner.prehire_days == 0
    assert list(rules.quotas) == ["standard", "large", "leader"]
    assert rules.quota_bytes("large") == 10 * 2**30
    assert rules.default_roles == ("staff",)
    assert rules.unit_groups is True
    assert rules.leadership[0] == LeadershipRule(1, ("manager",))
    assert [r.min_level for r in rules.leadership] == sorted(r.min_level for r in rules.leadership)
    assert rules.unit_types["commune_committee"] == ("commune-staff",)
    assert rules.unit_types["department"] == ("department-staff",)
    assert rules.positions["CNTT"] == ("it-officer",)
    assert rules.roles["leader"].app_roles == ("document:approver", "document:signer")
    # the chair of meetings is held for the unit of the post, not everywhere
    assert rules.roles["meeting-chair"].app_roles == ("meeting:chair",)
    assert rules.roles["meeting-chair"].per_unit
    for role in rules.roles.values():
        assert role.description, f"role {role.name} has no description"


def test_shipped_positions_are_exactly_the_demo_positions() -> None:
    from idhub.ops.demo.province import ProvinceInfo, build_positions

    province = ProvinceInfo(12, "Lai Châu", "Lai Châu", "tỉnh", "lai_chau", ())
    codes = {code for code, _name, _level in build_positions(province)}
    rules = load_rules(RULES_FILE)
    assert set(rules.positions) == codes
    assert rules.unknown_positions(codes) == ()
    assert rules.unknown_positions({"CNTT"}) == tuple(sorted(codes - {"CNTT"}))


def test_unit_types_mirror_the_hr_model() -> None:
    from idhub.models.hr import UnitType

    assert set(UNIT_TYPES) == {t.value for t in UnitType}


def test_rules_are_frozen() -> None:
    rules = load_rules(RULES_FILE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.unit_groups = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        rules.roles["x"] = rules.roles["staff"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.leaver.retention_days = 1  # type: ignore[misc]


# --------------------------------------------------------------------------- semantics


def test_largest_quota_wins_whatever_the_file_order() -> None:
    data = shipped()
    data["quotas"] = {"leader": 30, "standard": 10, "large": 20}
    rules = parse_rules(data)
    assert list(rules.quotas) == ["standard", "large", "leader"]
    assert [q.rank for q in rules.quotas.values()] == [0, 1, 2]
    assert rules.best_quota(["standard", "leader", "large"]) == "leader"
    assert rules.best_quota(["large", "standard"]) == "large"
    assert rules.best_quota([]) is None


def test_minimal_rules_take_defaults() -> None:
    rules = parse_rules(
        {
            "directory": {"groups_ou": "g", "former_ou": "f"},
            "leaver": {"retention_days": 0, "delete_after_retention": False},
            "quotas": {"q": 1},
            "roles": {"r": {}},
        }
    )
    assert rules.naming.pattern == PATTERNS[0]
    assert rules.joiner.prehire_days == 0
    assert rules.roles["r"].groups == () and rules.roles["r"].quota is None
    assert (rules.default_roles, rules.leadership, rules.unit_groups) == ((), (), False)
    assert dict(rules.positions) == {} and dict(rules.unit_types) == {}


# --------------------------------------------------------------------------- errors

Mutation = Callable[[dict[str, Any]], None]


def setter(*path: str | int, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return mutate


def deleter(*path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target: Any = data
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return mutate


ERRORS: list[tuple[Mutation, str]] = [
    (setter("roles", "leader", "quota", value="huge"),
     "roles.leader.quota: unknown quota class 'huge' (known: large, leader, standard)"),
    (setter("naming", "pattern", value="nope"), "naming.pattern: unknown pattern 'nope'"),
    (setter("directory", "colour", value="blue"),
     "directory.colour: unknown key (expected one of: former_ou, groups_ou)"),
    (setter("directory", "former_ou", value="groups"),
     "directory.former_ou: must differ from directory.groups_ou"),
    (setter("directory", "groups_ou", value=" groups"),
     "directory.groups_ou: must be a non-empty name without leading or trailing spaces"),
    (deleter("leaver"), "leaver: missing table"),
    (deleter("leaver", "retention_days"), "leaver.retention_days: missing"),
    (setter("leaver", "retention_days", value=-1),
     "leaver.retention_days: must be non-negative, got -1"),
    (setter("leaver", "retention_days", value="90"),
     "leaver.retention_days: must be an integer, not a string"),
    (setter("leaver", "delete_after_retention", value=1),
     "leaver.delete_after_retention: must be true or false, not an integer"),
    (setter("joiner", "prehire_days", value=True),
     "joiner.prehire_days: must be an integer, not a boolean"),
    (setter("joiner", "prehire_days", value=1.5),
     "joiner.prehire_days: must be an integer, not a number"),
    (setter("quotas", "tiny", value=0), "quotas.tiny: must be at least 1, got 0"),
    (setter("quotas", "twin", value=2147483648),
     "quotas.twin: same size as quotas.standard (2147483648 bytes)"),
    (setter("roles", "staff", "groups", value=["All Staff"]),
     "roles.staff.groups[0]: invalid group name 'All Staff'"),
    (setter("roles", "staff", "groups", value=["a", "a"]),
     "roles.staff.groups[1]: 'a' is listed twice"),
    (setter("roles", "staff", "groups", value="all-staff"),
     "roles.staff.groups: must be a list of strings, not a string"),
    (setter("roles", "staff", "app_roles", value=["document"]),
     "roles.staff.app_roles[0]: invalid application role 'document'"),
    (setter("roles", "staff", "quotas", value="standard"), "roles.staff.quotas: unknown key"),
    (setter("roles", "Bad Name", value={}), 'roles."Bad Name": invalid role name \'Bad Name\''),
    (setter("roles", "staff", value="x"), "roles.staff: must be a table, not a string"),
    (setter("default_roles", value=["nobody"]), "default_roles[0]: unknown role 'nobody'"),
    (setter("positions", "VAN_THU", value=["clerk", "ghost"]),
     "positions.VAN_THU[1]: unknown role 'ghost'"),
    (setter("positions", "VAN_THU", value="clerk"),
     "positions.VAN_THU: must be a list of role names, not a string"),
    (setter("leadership", 1, "min_level", value=-3),
     "leadership[1].min_level: must be non-negative, got -3"),
    (setter("leadership", 0, "roles", value=["ghost"]), "leadership[0].roles[0]: unknown role"),
    (setter("leadership", 2, "min_level", value=1), "leadership[2].min_level: min_level 1 appears"),
    (setter("leadership", 0, "level", value=1), "leadership[0].level: unknown key"),
    (setter("leadership", value={"min_level": 1}),
     "leadership: must be an array of tables ([[leadership]]), not a table"),
    (setter("unit_types", "comune_committee", value={"roles": []}),
     "unit_types.comune_committee: unknown unit type (known: province_committee"),
    (setter("unit_types", "department", "roles", value=["ghost"]),
     "unit_types.department.roles[0]: unknown role 'ghost'"),
    (setter("unit_group", value=True),
     "unit_group: unknown key (expected one of: admin_posts, default_roles"),
    (setter("unit_groups", value="yes"), "unit_groups: must be true or false, not a string"),
]  # fmt: skip


@pytest.mark.parametrize(("mutate", "expected"), ERRORS, ids=[e for _, e in ERRORS])
def test_each_error_is_reported_with_its_location(mutate: Mutation, expected: str) -> None:
    data = shipped()
    mutate(data)
    with pytest.raises(RulesError) as caught:
        parse_rules(data)
    problems = caught.value.problems
    assert any(p.startswith(expected) for p in problems), problems
    assert len(problems) == 1, problems  # one mistake, one message: no follow-up noise


def test_empty_quotas_reported_with_the_references_it_breaks() -> None:
    data = shipped()
    data["quotas"] = {}
    with pytest.raises(RulesError) as caught:
        parse_rules(data)
    problems = caught.value.problems
    assert problems[0] == "quotas: define at least one quota class"
    assert "roles.staff.quota: unknown quota class 'standard' (known: none)" in problems


def test_every_problem_is_reported_at_once() -> None:
    independent = [
        ERRORS[i]
        for i, (_, expected) in enumerate(ERRORS)
        if expected.startswith((
            "roles.leader.quota", "naming.pattern", "directory.colour",
            "leaver.retention_days: must be non",
            "joiner.prehire_days: must be an integer, not a boolean", "quotas.tiny",
            "roles.staff.app_roles", "roles.staff.quotas", "default_roles", "positions.VAN_THU[1]",
            "leadership[1]", "leadership[0].roles", "unit_types.comune", "unit_group:",
        ))
    ]  # fmt: skip
    assert len(independent) == 14
    data = shipped()
    for mutate, _ in independent:
        mutate(data)
    with pytest.raises(RulesError) as caught:
        parse_rules(data)
    problems = caught.value.problems
    for _, expected in independent:
        head = expected.split(" (known")[0]  # quotas.tiny joined the known classes
        assert any(p.startswith(head) for p in problems), expected
    assert len(problems) == len(independent)
    text = str(caught.value)
    assert text.startswith("invalid rules:\n  ")
    assert "\n  roles.leader.quota: unknown quota class 'huge'" in text


def test_load_rules_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    text = RULES_FILE.read_text(encoding="utf-8").replace('quota = "leader"', 'quota = "huge"')
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert str(caught.value).startswith(f"invalid rules in {path}:")
    assert caught.value.source == str(path)
    assert any(p.startswith("roles.leader.quota: unknown quota class 'huge'")
               for p in caught.value.problems)  # fmt: skip


def test_load_rules_reports_toml_syntax_with_line(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[naming]\npattern = given.familyinitials\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"not valid TOML: .*line 2"):
        load_rules(path)


def test_load_rules_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read the file"):
        load_rules(tmp_path / "nope.toml")


def test_parse_does_not_modify_its_input() -> None:
    data = shipped()
    before = copy.deepcopy(data)
    parse_rules(data)
    assert data == before


def test_rules_error_is_a_value_error() -> None:
    assert issubclass(RulesError, ValueError)
    assert isinstance(parse_rules(shipped()), Rules)


def test_schema_defaults_are_the_defaults_of_the_rules_objects() -> None:
    from provisioning.rules import JoinerRules, MailRules, NamingRules, SeatRules

    rules = parse_rules(
        {
            "directory": {"groups_ou": "g", "former_ou": "f"},
            "leaver": {"retention_days": 0, "delete_after_retention": False},
            "quotas": {"q": 1},
            "roles": {"r": {}},
        }
    )
    assert rules.naming == NamingRules() and rules.joiner == JoinerRules()
    assert rules.mail == MailRules()
    assert (dict(rules.seats.positions), rules.seats.ou, rules.seats.quota) == (
        dict(SeatRules().positions),
        SeatRules().ou,
        SeatRules().quota,
    )


def test_a_broken_quota_class_is_reported_once_not_again_where_it_is_used() -> None:
    data = shipped()
    data["quotas"]["leader"] = 0  # used by roles and by [seats]
    with pytest.raises(RulesError) as caught:
        parse_rules(data)
    assert caught.value.problems == ("quotas.leader: must be at least 1, got 0",)
