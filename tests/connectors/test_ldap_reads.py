"""The LDAP connector's batch reads: read_many over many keys, duplicate keys, scan,
against a real slapd."""

from __future__ import annotations

import time

import pytest

from connectors.base import (
    Account,
    AccountKey,
    Conflict,
    DuplicateKeys,
    KeyKind,
    OpKind,
)
from connectors.ldap import LdapConnector
from tests.fixtures.ldap_connector import (
    create_person,
    group_dn,
    member,
    n,
    ok,
    uniq,
)

# ---------------------------------------------------------------------- batch reads


def test_read_many_over_a_thousand_keys(connector: LdapConnector, unit: str) -> None:
    groups = [group_dn(uniq("rm")) for _ in range(3)]
    people = [create_person(uniq("rm"), uniq("rm"), unit) for _ in range(1000)]
    adds = [
        member(OpKind.ADD_MEMBER, p.target.id, groups[j], p.name)
        for i, p in enumerate(people)
        for j in range(3)
        if i % (j + 1) == 0
    ]
    ok(connector.apply([*people, *adds]))

    keys = [p.target for p in people] + [AccountKey(uniq("absent")) for _ in range(20)]
    started = time.perf_counter()
    accounts = connector.read_many(keys)
    elapsed = time.perf_counter() - started
    assert len(accounts) == 1000
    for i, person in enumerate(people):
        account = accounts[person.target]
        assert account.key == person.target and account.name == person.name
        assert account.groups == frozenset(n(groups[j]) for j in range(3) if i % (j + 1) == 0)
        assert account.get("memberOf") == ()  # groups are in .groups, normalised
    print(f"\nread_many: 1,020 keys (1,000 found) in {elapsed * 1000:.0f} ms")

    units = connector.read_many([AccountKey("nope", KeyKind.UNIT)] + keys[:2])
    assert set(units) == set(keys[:2])


def test_read_many_reports_duplicates_and_keeps_the_rest(
    connector: LdapConnector, admin, unit: str
) -> None:
    dup, fine = uniq("dup"), uniq("fine")
    ok(
        connector.apply(
            [create_person(dup, uniq("one"), unit), create_person(fine, uniq("fine"), unit)]
        )
    )
    clone = create_person(dup, uniq("clone"), unit)  # by hand, as a second entry
    admin.add_s(
        str(clone.name), [(k, [v.encode() for v in vs]) for k, vs in clone.attributes.items() if vs]
    )
    with pytest.raises(DuplicateKeys) as caught:
        connector.read_many([AccountKey(dup), AccountKey(fine)])
    assert set(caught.value.accounts) == {AccountKey(fine)}
    assert len(caught.value.duplicates[AccountKey(dup)]) == 2
    with pytest.raises(Conflict, match=f"2 entries claim person:{dup}"):
        connector.read(AccountKey(dup))


def test_scan_reads_groups_from_member_of(connector: LdapConnector, unit: str) -> None:
    person = create_person(uniq("scan"), uniq("scan"), unit)
    group = group_dn(uniq("scan"))
    ok(connector.apply([person, member(OpKind.ADD_MEMBER, person.target.id, group, person.name)]))
    scanned: dict[AccountKey, Account] = {a.key: a for a in connector.scan()}
    assert scanned[person.target].groups == frozenset({n(group)})
