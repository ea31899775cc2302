"""[admin_posts] in the rules file: position code → administrative roles, checked."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from provisioning.rules import RulesError, load_rules, parse_rules

RULES = Path(__file__).resolve().parents[2] / "idhub" / "defaults" / "rules.toml"


def test_the_province_file_names_the_commune_personnel_officer():
    assert load_rules(RULES).admin_posts["CONG_CHUC_VP_TK"] == ("hr_officer",)


def test_an_unknown_role_is_reported_with_its_place():
    raw = tomllib.loads(RULES.read_text(encoding="utf-8"))
    raw["admin_posts"] = {"CONG_CHUC_VP_TK": ["hr_officer"], "CNTT": ["superuser"]}
    with pytest.raises(RulesError) as caught:
        parse_rules(raw)
    assert any(
        p.startswith("admin_posts.CNTT[0]: unknown administrative role")
        for p in caught.value.problems
    )


def test_without_the_section_no_post_grants_anything():
    raw = tomllib.loads(RULES.read_text(encoding="utf-8"))
    raw.pop("admin_posts")
    assert dict(parse_rules(raw).admin_posts) == {}
