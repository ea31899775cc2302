"""Mail attributes from policy (pure): mailbox, quota, old addresses, a leaver's mail."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from provisioning.model import PastAddress
from provisioning.policy import mailbox_location
from provisioning.rules import RulesError, parse_rules
from tests.provisioning.test_policy import NO_MAIL, QLNS, RULES, TCCB, TODAY, desired, person, post

ID = "6f1c2d3e-0000-4000-8000-000000000001"


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def mail_rules(**changes):
    return dataclasses.replace(RULES, mail=dataclasses.replace(RULES.mail, **changes))


def test_mailbox_comes_from_the_key_and_quota_from_the_class():
    d = desired(person(post(TCCB)))
    assert d.attributes["mail"] == ("annv@snv.laichau.gov.vn",)
    assert d.attributes["idhubMailbox"] == (f"6f/{ID}",)
    assert d.attributes["idhubMailQuota"] == (str(RULES.quota_bytes("standard")),)
    head = desired(person(post(TCCB, "TRUONG_PHONG")))
    assert head.attributes["idhubMailQuota"] == (str(RULES.quota_bytes("large")),)
    # The same address for another person (a reused uid cannot happen, a reused address
    # after a rename can): another key, another mailbox.
    other = desired(person(post(TCCB), id="0a9b8c7d-0000-4000-8000-000000000002"))
    assert other.attributes["mail"] == d.attributes["mail"]
    assert other.attributes["idhubMailbox"] != d.attributes["idhubMailbox"]


def test_no_mail_domain_means_no_mailbox():
    d = desired(person(post(NO_MAIL)))
    assert d.attributes["mail"] == d.attributes["idhubMailbox"] == ()
    assert d.attributes["idhubMailQuota"] == ()


def test_mailbox_location_refuses_keys_that_are_not_path_components():
    assert mailbox_location("6F1C2D3E-aa") == "6f/6f1c2d3e-aa"
    for bad in ("../etc", "a/b", "", "x" * 65, "é"):
        with pytest.raises(ValueError):
            mailbox_location(bad)


def test_an_old_address_stays_an_alias_until_the_configured_date():
    old = PastAddress("annv@laichau.gov.vn", superseded_on=TODAY - days(10))
    current = PastAddress("annv@snv.laichau.gov.vn")
    d = desired(dataclasses.replace(person(post(TCCB)), addresses=(old, current)))
    assert d.attributes["mail"] == ("annv@snv.laichau.gov.vn",)
    assert d.attributes["idhubMailAlias"] == ("annv@laichau.gov.vn",)
    until = (TODAY - days(10) + days(365)).isoformat()
    assert f"old address annv@laichau.gov.vn kept as an alias until {until}" in d.reasons
    # superseded by this very converge (not recorded yet): counted from today
    fresh = PastAddress("annv@laichau.gov.vn")
    d = desired(dataclasses.replace(person(post(TCCB)), addresses=(fresh,)))
    assert d.attributes["idhubMailAlias"] == ("annv@laichau.gov.vn",)
    # after the period it goes; a later fixed date keeps it longer
    expired = PastAddress("annv@laichau.gov.vn", superseded_on=TODAY - days(400))
    p = dataclasses.replace(person(post(TCCB)), addresses=(expired,))
    assert desired(p).attributes["idhubMailAlias"] == ()
    floor = mail_rules(old_addresses_until=TODAY + days(30))
    assert desired(p, floor).attributes["idhubMailAlias"] == ("annv@laichau.gov.vn",)


def _leaver(**changes):
    left = post(QLNS, end=TODAY - days(3))
    return dataclasses.replace(person(left), **changes)


def test_a_leaver_is_forwarded_to_the_successor_then_the_unit_mailbox():
    d = desired(_leaver(successor_address="Binhtt@STC.laichau.gov.vn"))
    assert d.attributes["idhubAccountStatus"] == ("disabled",)
    assert d.attributes["mail"] == ("annv@stc.laichau.gov.vn",)  # kept during retention
    assert d.attributes["idhubMailForward"] == ("binhtt@stc.laichau.gov.vn",)
    assert d.attributes["idhubMailBounce"] == ()
    until = (TODAY - days(3) + days(90)).isoformat()
    assert f"mail forwarded to the successor binhtt@stc.laichau.gov.vn until {until}" in d.reasons
    d = desired(_leaver())
    assert d.attributes["idhubMailForward"] == ("vanthu@stc.laichau.gov.vn",)


def test_a_leaver_is_bounced_in_ascii_when_forwarding_ends_or_is_not_wanted():
    late = dataclasses.replace(_leaver(), today=TODAY + days(100))  # retention 90 days…
    rules = dataclasses.replace(RULES, leaver=dataclasses.replace(RULES.leaver, retention_days=200))
    d = desired(late, rules)
    assert d.attributes["idhubMailForward"] == ()
    (message,) = d.attributes["idhubMailBounce"]
    assert message.startswith("Nguyen Van An <annv@stc.laichau.gov.vn> khong con cong tac")
    assert message.isascii()
    bounce = mail_rules(leaver_action="bounce", leaver_bounce_message="{name} đã nghỉ hưu.")
    d = desired(_leaver(successor_address="binhtt@stc.laichau.gov.vn"), bounce)
    assert d.attributes["idhubMailBounce"] == ("Nguyen Van An da nghi huu.",)
    assert d.attributes["idhubMailForward"] == ()


def test_active_and_suspended_accounts_have_no_forward_or_bounce():
    for p in (person(post(TCCB)), person(post(TCCB), status="suspended")):
        d = desired(p)
        assert d.attributes["idhubMailForward"] == d.attributes["idhubMailBounce"] == ()


def _rules_with(mail: dict):
    import tomllib

    from tests.provisioning.test_policy import ROOT

    data = tomllib.loads((ROOT / "idhub" / "defaults" / "rules.toml").read_text())
    data["mail"] = mail
    return parse_rules(data)


def test_mail_rules_are_validated_with_every_problem_at_once():
    with pytest.raises(RulesError) as error:
        _rules_with(
            {
                "leaver_action": "archive",
                "leaver_forward_to": ["successor", "boss"],
                "unit_mailbox": "Văn thư",
                "old_addresses_until": "soon",
                "leaver_bounce_message": "{name} left {when}",
                "colour": "red",
            }
        )
    problems = "\n".join(error.value.problems)
    for expected in (
        "mail.leaver_action: unknown action 'archive'",
        "mail.leaver_forward_to[1]: unknown target 'boss'",
        "mail.unit_mailbox: must be the local part",
        "mail.old_addresses_until: not a date",
        "mail.leaver_bounce_message: unknown field(s) ['when']",
        "mail.colour: unknown key",
    ):
        assert expected in problems
    ok = _rules_with({"old_addresses_until": dt.date(2026, 12, 31), "leaver_forward_to": []})
    assert ok.mail.old_addresses_until == dt.date(2026, 12, 31)
    assert ok.mail.leaver_forward_to == ()


def test_delegation_plan_grants_and_revokes_only_what_the_hub_owns():
    from connectors.base import Account, AccountKey, OpKind
    from provisioning.mailbox import plan_delegations

    d = desired(person(post(TCCB)))
    box = Account(AccountKey(ID), f"6f/{ID}")
    (op,) = plan_delegations(
        d,
        box,
        deputies=frozenset({"hadt"}),
        managed=frozenset({"hadt", "binhtt"}),
        current=frozenset({"binhtt", "someone"}),
    )
    assert op.kind is OpKind.MODIFY
    assert dict(op.attributes) == {
        "user": ("annv",),
        "acl_grant": ("hadt",),
        "acl_revoke": ("binhtt",),  # "someone" was let in by hand: left alone
    }
    assert op.reason == "delegated to hadt; delegation to binhtt ended"
    same = dict(deputies=frozenset({"hadt"}), managed=frozenset({"hadt"}))
    assert plan_delegations(d, box, current=frozenset({"hadt"}), **same) == []
    assert plan_delegations(d, None, current=frozenset(), **same) == []  # no mailbox yet
