"""The LDAP connector and DNs: equality as LDAP sees it, and values that need
escaping (in DNs and in filters) end to end, against a real slapd."""

from __future__ import annotations

import ldap
import ldap.dn
import pytest

from connectors.base import (
    AccountKey,
    Capability,
    Conflict,
    OpKind,
)
from connectors.dn import normalize_dn
from connectors.ldap import LdapConnector
from tests.fixtures.ldap import BASE_DN
from tests.fixtures.ldap_connector import (
    NASTY_GROUP,
    NASTY_KEYS,
    NASTY_OU,
    NASTY_OU_2,
    NASTY_UID,
    count,
    create_person,
    ensure_unit,
    group_dn,
    member,
    members_of,
    n,
    ok,
    op,
    person_dn,
    uniq,
)

# ---------------------------------------------------------------------- DNs and basics


def test_normalize_dn_folds_what_ldap_treats_as_equal() -> None:
    same = [
        ("UID=Lan,OU=Sở Nội Vụ,DC=IDHub,dc=gov", "uid=lan,ou=sở nội vụ,dc=idhub,dc=gov"),
        ("cn=A\\2CB,dc=x", "CN=a\\,b,DC=X"),
        ("cn=\\C3\\9D,dc=x", "cn=Ý,dc=x"),  # hex-escaped UTF-8 vs the letter
        ("cn=a+uid=b,dc=x", "uid=B+cn=A,dc=x"),  # multi-valued RDN, any order
        ("ou=\\ x,dc=x", "ou=\\20x,dc=x"),
    ]
    for a, b in same:
        assert normalize_dn(a) == normalize_dn(b), (a, b)
    assert normalize_dn("uid=a,dc=x") != normalize_dn("uid=a\\,dc=x")
    with pytest.raises(ValueError):
        normalize_dn("not a dn")


def test_capabilities_list_what_apply_does(connector: LdapConnector) -> None:
    assert connector.capabilities() >= {
        Capability.READ,
        Capability.SCAN,
        Capability.CREATE,
        Capability.MODIFY,
        Capability.MOVE,
        Capability.RENAME,
        Capability.DISABLE,
        Capability.DELETE,
        Capability.GROUPS,
        Capability.CONTAINERS,
    }


def test_empty_batch(connector: LdapConnector) -> None:
    assert connector.apply([]) == []


# ---------------------------------------------------------------------- escaping


def test_dn_escaping_end_to_end(connector: LdapConnector, admin) -> None:
    ou1 = ensure_unit(uniq("u"), NASTY_OU + uniq(""), BASE_DN)
    ou2 = ensure_unit(uniq("u"), NASTY_OU_2 + uniq(""), BASE_DN)
    assert ou1.name is not None and ou2.name is not None
    key = uniq("p")
    create = create_person(key, NASTY_UID, ou1.name)
    group = group_dn(NASTY_GROUP + uniq(""))
    ok(connector.apply([ou1, ou2, create, member(OpKind.ADD_MEMBER, key, group, create.name)]))

    account = connector.read(AccountKey(key))
    assert account is not None
    assert ldap.dn.str2dn(account.name)[0][0][1] == NASTY_UID
    assert ldap.dn.str2dn(account.name)[1][0][1] == ldap.dn.str2dn(ou1.name)[0][0][1]
    assert account.groups == frozenset({n(group)})
    assert {n(ou1.name), n(ou2.name)} <= connector.containers()
    assert n(group) in connector.managed_groups()

    moved = person_dn(NASTY_UID, ou2.name)
    ok(connector.apply([op(OpKind.MOVE, key, account.name, name=moved)]))
    assert members_of(admin, group) == {n(moved)}
    account = connector.read(AccountKey(key))
    assert account is not None and n(account.name) == n(moved)
    assert account.groups == frozenset({n(group)})


def test_filter_escaping_never_widens_a_search(connector: LdapConnector, admin, unit: str) -> None:
    # "a*" or "*" unescaped would match these.
    decoys = [create_person(f"a-decoy-{uniq('k')}", uniq("decoy"), unit) for _ in range(3)]
    ok(connector.apply(decoys))
    for key in NASTY_KEYS:
        assert connector.read(AccountKey(key)) is None, key
    assert connector.read_many([AccountKey(k) for k in NASTY_KEYS]) == {}
    # Located by key: "*" finds nobody, so nothing else is touched.
    [vanished] = connector.apply([op(OpKind.MODIFY, "*", None, attributes={"title": ("x",)})])
    assert isinstance(vanished.error, Conflict)
    assert count(admin, "(title=x)") == 0

    people = [create_person(key, uniq("nasty"), unit) for key in NASTY_KEYS]
    ok(connector.apply(people))
    found = connector.read_many([AccountKey(k) for k in NASTY_KEYS])
    assert {k.id: a.name for k, a in found.items()} == {p.target.id: p.name for p in people}
    for person in people:
        account = connector.read(person.target)
        assert account is not None and account.name == person.name
    [disabled] = ok(connector.apply([op(OpKind.DISABLE, "*", None)]))  # only the "*" one
    assert disabled.name == people[0].name
    assert count(admin, "(idhubAccountStatus=disabled)", unit) == 1
