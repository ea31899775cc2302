"""provisioning.mappings: each mapping produces only its range; the composed policy gives
the answers recorded before the split (tests/provisioning/policy_corpus.py)."""

from __future__ import annotations

import json

from hypothesis import given, settings

from provisioning.attributes import nfc
from provisioning.mappings import entitlements, identity, lifecycle, mail
from provisioning.model import AccountState, PersonSnapshot
from provisioning.policy import desired_account
from provisioning.rules import Rules
from tests.provisioning.policy_corpus import CASES, RECORDED, answers, digest
from tests.provisioning.test_policy import BASE, HUB_ATTRIBUTES, persons, rule_sets

ATTRIBUTE_MAPPINGS = {"identity": identity.RANGE, "lifecycle": lifecycle.RANGE, "mail": mail.RANGE}


def test_the_composed_policy_gives_the_recorded_answers() -> None:
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    assert len(recorded) == CASES
    got = [a if isinstance(a, str) else digest(a) for a in answers()]
    differ = [i for i, (g, w) in enumerate(zip(got, recorded, strict=True)) if g != w]
    assert not differ, f"{len(differ)} answers changed, first cases {differ[:10]}"


def test_the_ranges_split_the_hub_attributes() -> None:
    """One owner per attribute: the ranges are disjoint and cover what the hub writes."""
    owned = [name for rng in ATTRIBUTE_MAPPINGS.values() for name in rng]
    assert len(owned) == len(set(owned)), owned
    assert set(owned) == HUB_ATTRIBUTES
    assert set(entitlements.RANGE) == set(entitlements.Entitlements._fields) - {"reasons"}


@settings(max_examples=300, deadline=None)
@given(p=persons(), rules=rule_sets)
def test_each_mapping_produces_only_its_range(p: PersonSnapshot, rules: Rules) -> None:
    username = nfc(p.username)
    life = lifecycle.lifecycle(p, rules)
    d = desired_account(p, rules, base_dn=BASE)
    assert (life.state, d.name) == (d.state, lifecycle.place(life, username, rules, BASE)[0])
    if life.state is AccountState.ABSENT:
        return
    grants = entitlements.entitlements(life, rules, BASE)
    mail_attributes, _ = mail.mail(p, username, rules, life, grants.quota_class)
    produced = {
        "identity": identity.identity(p, username, life.placement),
        "lifecycle": lifecycle.status(life),
        "mail": mail_attributes,
    }
    for mapping, attributes in produced.items():
        assert set(attributes) <= set(ATTRIBUTE_MAPPINGS[mapping]), mapping
        for name, values in attributes.items():
            assert d.attributes[name] == values, (mapping, name)
    # together they fill every attribute the account has, and nothing else
    assert set(d.attributes) == {name for a in produced.values() for name in a}
    assert (d.roles, d.groups, d.app_roles, d.quota_class) == grants[:4]
    if life.state is not AccountState.ENABLED:
        assert grants is entitlements.NONE
