"""The LDAP connector's group memberships (kept on the member, dynamic hub groups) and a
big pipelined batch of creates with groups, against a real slapd."""

from __future__ import annotations

import time
from collections.abc import Callable

import ldap
import ldap.dn
import ldap.filter
import pytest

from connectors.base import (
    AccountKey,
    Conflict,
    InvalidData,
    Operation,
    OpKind,
    Result,
)
from connectors.ldap import LdapConnector
from idhub.ops.devstack.slapd import Slapd
from tests.fixtures.ldap import BASE_DN, connector_for
from tests.fixtures.ldap_connector import (
    GROUPS,
    NASTY_GROUP,
    count,
    create_person,
    ensure_unit,
    group_dn,
    member,
    member_of,
    members_of,
    n,
    ok,
    op,
    person_dn,
    uniq,
)

# ---------------------------------------------------------------------- groups


def test_group_membership(connector: LdapConnector, admin, unit: str) -> None:
    a, b, c = (create_person(uniq("p"), uniq(x), unit) for x in "abc")
    ok(connector.apply([a, b, c]))
    group = group_dn(NASTY_GROUP + uniq(""))

    def change(kind: OpKind, person: Operation) -> Operation:
        return member(kind, person.target.id, group, person.name)

    # The first add creates the group: hub-managed, dynamic, named by its RDN.
    ok(connector.apply([change(OpKind.ADD_MEMBER, a), change(OpKind.ADD_MEMBER, b)]))
    [(_dn, entry)] = admin.search_s(group, ldap.SCOPE_BASE, "(objectClass=*)", ["*"])
    assert {v.lower() for v in entry["objectClass"]} >= {b"groupofurls", b"idhubgroup"}
    assert entry["idhubManaged"] == [b"TRUE"]
    assert entry["cn"][0].decode() == ldap.dn.str2dn(group)[0][0][1]
    assert members_of(admin, group) == {n(str(a.name)), n(str(b.name))}
    # (memberOf on a member, as slapo-memberof would show it: see the move test; slapd
    # writes this group's DN there without its escaped leading space.)
    # Filters and compares on member work as on a static group.
    flt = f"(member={ldap.filter.escape_filter_chars(str(a.name))})"
    found = admin.search_s(GROUPS, ldap.SCOPE_SUBTREE, flt, ["1.1"])
    assert [n(dn) for dn, _ in found] == [n(group)]
    assert admin.compare_s(group, "member", str(b.name).encode())
    assert not admin.compare_s(group, "member", str(c.name).encode())
    assert n(group) in connector.managed_groups()

    ok(connector.apply([change(OpKind.ADD_MEMBER, a)]))  # a member already: fine
    ok(connector.apply([change(OpKind.REMOVE_MEMBER, b), change(OpKind.REMOVE_MEMBER, b)]))
    ok(connector.apply([change(OpKind.REMOVE_MEMBER, b)]))  # not a member: fine
    ok(connector.apply([change(OpKind.REMOVE_MEMBER, a)]))  # the last member
    assert members_of(admin, group) == set()  # an empty group is still a group
    assert member_of(admin, str(a.name)) == set()
    ok(connector.apply([change(OpKind.REMOVE_MEMBER, a)]))  # and again

    ok(connector.apply([change(OpKind.ADD_MEMBER, c)]))
    assert members_of(admin, group) == {n(str(c.name))}
    account = connector.read(c.target)
    assert account is not None and account.groups == frozenset({n(group)})

    # A deleted member names no group: nothing to clean up in the group.
    ok(connector.apply([op(OpKind.DELETE, c.target.id, c.name)]))
    assert members_of(admin, group) == set()
    ok(connector.apply([change(OpKind.ADD_MEMBER, a), change(OpKind.ADD_MEMBER, b)]))
    assert members_of(admin, group) == {n(str(a.name)), n(str(b.name))}


def test_memberships_ride_on_the_create_and_survive_its_retry(
    connector: LdapConnector, admin, unit: str
) -> None:
    create = create_person(uniq("p"), uniq("new"), unit)
    g1, g2 = group_dn(uniq("g")), group_dn(uniq("g"))
    batch = [
        create,
        member(OpKind.ADD_MEMBER, create.target.id, g1, create.name),
        member(OpKind.ADD_MEMBER, create.target.id, g2, create.name),
    ]
    ok(connector.apply(batch))
    [(_dn, entry)] = admin.search_s(str(create.name), ldap.SCOPE_BASE, "(objectClass=*)")
    assert {n(v.decode()) for v in entry["idhubMemberOf"]} == {n(g1), n(g2)}
    assert members_of(admin, g1) == {n(str(create.name))}

    # The batch again, after a membership was taken away by hand: the create finds its
    # own entry, and the memberships are written to it.
    admin.modify_s(str(create.name), [(ldap.MOD_DELETE, "idhubMemberOf", [g2.encode()])])
    ok(connector.apply(batch))
    account = connector.read(create.target)
    assert account is not None and account.groups == frozenset({n(g1), n(g2)})

    # A create that fails takes its memberships with it.
    clash = create_person(uniq("p"), str(create.attributes["uid"][0]), unit)
    results = connector.apply([clash, member(OpKind.ADD_MEMBER, clash.target.id, g1, clash.name)])
    assert [type(r.error) for r in results] == [Conflict, Conflict]


def test_an_earlier_static_hub_group_becomes_dynamic(
    connector: LdapConnector, admin, unit: str
) -> None:
    """Data from before memberships moved onto the members: the hub's groupOfNames is
    replaced on first use; an entry the hub does not manage is never touched."""
    person = create_person(uniq("p"), uniq("p"), unit)
    ok(connector.apply([person]))
    old = group_dn(uniq("legacy"))
    admin.add_s(
        old,
        [
            ("objectClass", [b"groupOfNames", b"idhubGroup"]),
            ("cn", [ldap.dn.str2dn(old)[0][0][1].encode()]),
            ("member", [str(person.name).encode()]),
            ("idhubManaged", [b"TRUE"]),
        ],
    )
    foreign = group_dn(uniq("theirs"))
    admin.add_s(
        foreign,
        [
            ("objectClass", [b"groupOfNames"]),
            ("cn", [ldap.dn.str2dn(foreign)[0][0][1].encode()]),
            ("member", [str(person.name).encode()]),
        ],
    )
    ok(connector.apply([member(OpKind.ADD_MEMBER, person.target.id, old, person.name)]))
    [(_dn, entry)] = admin.search_s(old, ldap.SCOPE_BASE, "(objectClass=*)", ["objectClass"])
    assert b"groupOfURLs" in entry["objectClass"]
    assert members_of(admin, old) == {n(str(person.name))}

    [result] = connector.apply([member(OpKind.ADD_MEMBER, person.target.id, foreign, person.name)])
    assert isinstance(result.error, Conflict) and "does not manage" in str(result.error)
    assert members_of(admin, foreign) == {n(str(person.name))}  # as it was


def test_member_changes_merge_per_group_and_isolate_bad_values(
    connector: LdapConnector, admin, unit: str
) -> None:
    people = [create_person(uniq("p"), uniq("m"), unit) for _ in range(4)]
    ok(connector.apply(people))
    group = group_dn(uniq("merge"))
    ok(connector.apply([member(OpKind.ADD_MEMBER, people[0].target.id, group, people[0].name)]))

    bad = member(OpKind.ADD_MEMBER, uniq("bad"), group, f"foo=bar,{BASE_DN}")  # no such type
    batch = [
        member(OpKind.ADD_MEMBER, people[0].target.id, group, people[0].name),  # already in
        member(OpKind.ADD_MEMBER, people[1].target.id, group, people[1].name),
        bad,
        member(OpKind.ADD_MEMBER, people[2].target.id, group, people[2].name),
        member(OpKind.REMOVE_MEMBER, people[3].target.id, group, people[3].name),  # not in
    ]
    results = connector.apply(batch)
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert isinstance(results[2].error, InvalidData)
    assert members_of(admin, group) == {n(str(p.name)) for p in people[:3]}

    # Add then remove in one batch: the last word counts, for both operations.
    x = people[3]
    flip = [
        member(OpKind.ADD_MEMBER, x.target.id, group, x.name),
        member(OpKind.REMOVE_MEMBER, x.target.id, group, x.name),
    ]
    ok(connector.apply(flip))
    assert n(str(x.name)) not in members_of(admin, group)


def test_member_dn_after_create_and_move_in_the_same_batch(
    connector: LdapConnector, admin, unit: str
) -> None:
    there = ensure_unit(uniq("u"), uniq("there"), unit)
    assert there.name is not None
    create = create_person(uniq("p"), uniq("new"), unit)
    key = create.target.id
    uid = create.attributes["uid"][0]
    group = group_dn(uniq("g"))
    moved = person_dn(uid, there.name)
    batch = [
        there,
        create,
        member(OpKind.ADD_MEMBER, key, group, None),  # not known yet: where create put it
        op(OpKind.MOVE, key, create.name, name=moved),
        member(OpKind.ADD_MEMBER, key, group_dn(uniq("g2")), create.name),  # stale: moved
    ]
    ok(connector.apply(batch))
    assert members_of(admin, group) == {n(moved)}
    account = connector.read(AccountKey(key))
    assert account is not None and len(account.groups or ()) == 2

    [missing] = connector.apply([member(OpKind.ADD_MEMBER, "no-such-person", group, None)])
    assert isinstance(missing.error, Conflict)
    [gone] = connector.apply([member(OpKind.REMOVE_MEMBER, "no-such-person", group, None)])
    assert gone.ok  # nobody to remove


def test_group_needs_its_parent(connector: LdapConnector, unit: str) -> None:
    person = create_person(uniq("p"), uniq("p"), unit)
    ok(connector.apply([person]))
    orphan = f"cn=x,ou=no-groups-here,{BASE_DN}"
    [result] = connector.apply([member(OpKind.ADD_MEMBER, person.target.id, orphan, person.name)])
    assert isinstance(result.error, Conflict) and "does not exist" in str(result.error)


# ---------------------------------------------------------------------- a big batch


def test_batch_of_500_creates_with_groups(
    connector: LdapConnector, admin, server: Slapd, capsys: pytest.CaptureFixture[str]
) -> None:
    def batch_under(parent: str, size: int = 500) -> list[Operation]:
        return [create_person(uniq("big"), uniq("big"), parent) for _ in range(size)]

    def timed(fn: Callable[[], object]) -> float:
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started

    units = [ensure_unit(uniq("u"), uniq("big"), BASE_DN) for _ in range(4)]
    ok(connector.apply(units))
    names = [str(u.name) for u in units]

    # Raw python-ldap, one synchronous add_s per entry, on the same server.
    raw = batch_under(names[0])
    conn = server.connect()
    raw_s = timed(
        lambda: [
            conn.add_s(
                str(o.name), [(k, [v.encode() for v in vs]) for k, vs in o.attributes.items() if vs]
            )
            for o in raw
        ]
    )
    conn.unbind_s()

    creates = batch_under(names[1])
    apply_s = timed(lambda: ok(connector.apply(creates)))

    sync_connector = connector_for(server)
    sync_connector.add_window = 1
    sync_creates = batch_under(names[2])
    sync_s = timed(lambda: ok(sync_connector.apply(sync_creates)))
    sync_connector.close()

    people = batch_under(names[3])
    g1, g2 = group_dn(uniq("big")), group_dn(uniq("big"))
    # As the worker sends it: plan after plan, each a create and its two group adds.
    ops = [
        x
        for p in people
        for x in (p, *(member(OpKind.ADD_MEMBER, p.target.id, g, p.name) for g in (g1, g2)))
    ]
    results: list[Result] = []
    groups_s = timed(lambda: results.extend(connector.apply(ops)))
    ok(results)
    assert len(results) == len(ops) and [r.operation for r in results] == ops

    assert count(admin, "(objectClass=idhubPerson)", names[3]) == 500
    assert members_of(admin, g1) == members_of(admin, g2) == {n(str(p.name)) for p in people}
    accounts = connector.read_many([p.target for p in people])
    assert all(accounts[p.target].groups == frozenset({n(g1), n(g2)}) for p in people)

    with capsys.disabled():
        print(
            f"\n500 raw add_s: {raw_s * 1000:.0f} ms ({500 / raw_s:.0f}/s) | "
            f"apply 500 creates: {apply_s * 1000:.0f} ms ({500 / apply_s:.0f}/s, "
            f"{raw_s / apply_s:.0%} of raw) | same, add_window=1: {sync_s * 1000:.0f} ms "
            f"({500 / sync_s:.0f}/s) | apply 500 creates + 1,000 member adds in 2 groups: "
            f"{groups_s * 1000:.0f} ms ({500 / groups_s:.0f} people/s, "
            f"{raw_s / groups_s:.0%} of raw)"
        )
