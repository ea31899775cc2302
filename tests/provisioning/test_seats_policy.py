"""Seat mailboxes, the pure part: names, keys, rules and what the directory should hold."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import Account, AccountKey, KeyKind, OpKind
from provisioning.mailbox import plan_delegations
from provisioning.model import AccountState, UnitSnapshot
from provisioning.naming import is_valid_identifier
from provisioning.planner import plan
from provisioning.rules import RulesError, load_rules, parse_rules
from provisioning.seats import SEAT_RIGHTS, SeatSnapshot, desired_seat, seat_key, seat_uid_base

BASE = "dc=laichau,dc=gov,dc=vn"
RULES = load_rules("idhub/defaults/rules.toml")
UNIT = UnitSnapshot(
    id="6f1c1a52-8f0e-4a1e-9a55-0d7a3d1c2b10",
    code="03410",
    name="Ủy ban nhân dân xã Bản Lang",
    type="commune_committee",
    path=("12", "03410"),
    path_ids=("p", "6f1c1a52-8f0e-4a1e-9a55-0d7a3d1c2b10"),
    path_names=("UBND tỉnh Lai Châu", "Ủy ban nhân dân xã Bản Lang"),
    mail_domain="laichau.gov.vn",
)


def _seat(**changes) -> SeatSnapshot:
    seat = SeatSnapshot(
        id=seat_key(UNIT.id, "CT_UBND_XA"),
        uid="chutich.banlang",
        unit=UNIT,
        position_code="CT_UBND_XA",
        position_name="Chủ tịch UBND xã",
        holders=("ducvl",),
        today=dt.date(2026, 12, 2),
    )
    return dataclasses.replace(seat, **changes)


@pytest.mark.parametrize(
    ("unit_name", "uid"),
    [
        ("Xã Bản Lang", "chutich.banlang"),  # "Bản" is a name here, not "Ban" (a board)
        ("Ủy ban nhân dân xã Bản Lang", "chutich.banlang"),
        ("Phường 1", "chutich.phuong1"),  # a number alone names nothing
        ("UBND tỉnh Lai Châu", "chutich.laichau"),
        ("Đặc khu Côn Đảo", "chutich.condao"),  # đ folds to d
        ("Xã Sơn Bình", "chutich.sonbinh"),
    ],
)
def test_seat_names_fold_the_unit_name_without_its_type(unit_name, uid):
    assert seat_uid_base("chutich", unit_name) == uid


@given(st.text(min_size=0, max_size=120))
def test_seat_names_are_always_identifiers(unit_name):
    assert is_valid_identifier(seat_uid_base("chutich", unit_name))


def test_a_seat_key_is_the_post_not_the_holder():
    assert seat_key(UNIT.id, "CT_UBND_XA") == seat_key(UNIT.id.upper(), "CT_UBND_XA")
    assert seat_key(UNIT.id, "CT_UBND_XA") != seat_key(UNIT.id, "PCT_UBND_XA")


def test_the_seat_entry_has_an_address_a_mailbox_from_its_key_and_no_password():
    desired = desired_seat(_seat(), RULES, base_dn=BASE)
    assert desired.state is AccountState.ENABLED
    assert desired.name == f"uid=chutich.banlang,ou=seats,{BASE}"
    attrs = desired.attributes
    assert attrs["mail"] == ("chutich.banlang@laichau.gov.vn",)
    assert attrs["idhubMailbox"][0].endswith(seat_key(UNIT.id, "CT_UBND_XA"))
    assert attrs["idhubMailQuota"] == (str(RULES.quota_bytes("leader")),)
    assert "userPassword" not in attrs and "idhubSeat" in attrs["objectClass"]
    # The holder changing does not change the entry: only who may read it.
    assert desired_seat(_seat(holders=("hadt",)), RULES, base_dn=BASE).attributes == attrs


def test_a_seat_of_a_closed_unit_is_disabled_and_kept():
    closed = dataclasses.replace(UNIT, active=False)
    desired = desired_seat(_seat(unit=closed), RULES, base_dn=BASE)
    assert desired.state is AccountState.DISABLED
    existing = Account(
        AccountKey(desired.person_id, KeyKind.SEAT),
        desired.name,
        {**desired.attributes, "idhubAccountStatus": ("active",)},
        groups=frozenset(),
    )
    ops = plan(
        desired, existing, existing_containers=set(), managed_groups=set(), kind=KeyKind.SEAT
    )
    assert [op.kind for op in ops] == [OpKind.DISABLE]


def test_a_new_seat_is_planned_with_its_container():
    desired = desired_seat(_seat(), RULES, base_dn=BASE)
    ops = plan(desired, None, existing_containers=set(), managed_groups=set(), kind=KeyKind.SEAT)
    assert [op.kind for op in ops] == [OpKind.ENSURE_CONTAINER, OpKind.CREATE]
    assert ops[1].target == AccountKey(desired.person_id, KeyKind.SEAT)
    with pytest.raises(ValueError, match="is not"):  # a person's entry is never a seat's
        plan(
            desired,
            Account(AccountKey(desired.person_id), desired.name, groups=frozenset()),
            existing_containers=set(),
            managed_groups=set(),
            kind=KeyKind.SEAT,
        )


def test_handover_grants_the_new_holder_and_revokes_only_former_holders():
    desired = desired_seat(_seat(holders=("hadt",)), RULES, base_dn=BASE)
    box = Account(AccountKey(desired.person_id), "62/x")
    [op] = plan_delegations(
        desired,
        box,
        deputies=frozenset({"hadt"}),
        managed=frozenset({"ducvl", "hadt"}),
        current=frozenset({"ducvl", "vanthu"}),  # vanthu was let in by hand: stays
        rights=SEAT_RIGHTS,
    )
    assert op.attributes["acl_grant"] == ("hadt",)
    assert op.attributes["acl_revoke"] == ("ducvl",)
    assert op.attributes["acl_rights"] == SEAT_RIGHTS


def test_seat_rules_are_checked():
    good = {"positions": {"CT_UBND_XA": "chutich"}, "quota": "leader"}
    base = {k: v for k, v in _raw_rules().items() if k != "seats"}
    assert parse_rules({**base, "seats": good}).seats.positions == {"CT_UBND_XA": "chutich"}
    with pytest.raises(RulesError) as caught:
        parse_rules(
            {
                **base,
                "seats": {"positions": {"CT_UBND_XA": "Chủ tịch"}, "quota": "huge", "ou": "groups"},
            }
        )
    text = str(caught.value)
    assert "seats.positions.CT_UBND_XA" in text
    assert "seats.quota: unknown quota class 'huge'" in text
    assert "seats.ou" in text


def _raw_rules() -> dict:
    import tomllib

    with open("idhub/defaults/rules.toml", "rb") as f:
        return tomllib.load(f)
