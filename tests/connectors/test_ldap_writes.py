"""The LDAP connector's entry writes (apply): create, containers, modify, move and rename
(pipelined), disable, delete, and their retries, against a real slapd."""

from __future__ import annotations

import ldap
import ldap.dn
import pytest

from connectors.base import (
    AccountKey,
    Conflict,
    InvalidData,
    KeyKind,
    Operation,
    OpKind,
)
from connectors.ldap import LdapConnector
from idhub.ops.devstack.slapd import Slapd
from tests.fixtures.ldap import BASE_DN
from tests.fixtures.ldap_connector import (
    NASTY_OU,
    NASTY_OU_2,
    NASTY_UID,
    count,
    create_person,
    ensure_unit,
    exists,
    group_dn,
    member,
    member_of,
    members_of,
    n,
    ok,
    op,
    person_dn,
    rdn,
    uniq,
)

# ---------------------------------------------------------------------- create


def test_create_and_its_retry(connector: LdapConnector, admin, unit: str) -> None:
    key = uniq("p")
    create = create_person(key, uniq("lan"), unit)
    [result] = ok(connector.apply([create]))
    assert result.name == create.name and result.operation is create
    account = connector.read(AccountKey(key))
    assert account is not None and account.name == create.name
    assert account.get("description") == ()  # the empty tuple was not written
    assert account.get("idhubManaged") == ("TRUE",)
    assert account.groups == frozenset()

    [again] = ok(connector.apply([create]))  # a retried batch: same key there, success
    assert again.name == create.name
    assert count(admin, f"(idhubPersonId={key})") == 1


def test_create_failures_are_typed_per_operation(connector: LdapConnector, unit: str) -> None:
    taken = create_person(uniq("p"), uniq("taken"), unit)
    ok(connector.apply([taken]))
    assert taken.name is not None
    other_key = Operation(
        OpKind.CREATE,
        AccountKey(uniq("other")),
        name=taken.name,
        attributes={**taken.attributes, "idhubPersonId": ("someone-else",)},
    )
    no_parent = create_person(uniq("p"), "orphan", f"ou=nowhere,{BASE_DN}")
    no_sn = Operation(
        OpKind.CREATE,
        AccountKey("no-sn"),
        name=person_dn("nosn", unit),
        attributes={
            "objectClass": ("inetOrgPerson", "idhubPerson"),
            "uid": ("nosn",),
            "cn": ("x",),
            "idhubPersonId": ("no-sn",),
        },
    )
    bad_syntax = create_person(uniq("p"), uniq("quota"), unit, idhubMailQuota=("lots",))
    fine = create_person(uniq("p"), uniq("fine"), unit)

    results = connector.apply([other_key, no_parent, no_sn, bad_syntax, fine])
    assert [type(r.error) for r in results] == [
        Conflict,
        Conflict,
        InvalidData,
        InvalidData,
        type(None),
    ]
    assert "taken by another entry" in str(results[0].error)
    assert "does not exist" in str(results[1].error)
    assert [r.operation for r in results] == [other_key, no_parent, no_sn, bad_syntax, fine]


def test_creates_in_one_run_may_depend_on_each_other(connector: LdapConnector, admin) -> None:
    """Pipelined adds: a child waits until its parent, sent just before, is answered."""
    top = ensure_unit(uniq("u"), uniq("top"), BASE_DN)
    assert top.name is not None
    mid_key = uniq("u")
    mid = Operation(
        OpKind.CREATE,
        AccountKey(mid_key, KeyKind.UNIT),
        name=f"{rdn('ou', 'mid')},{top.name}",
        attributes={
            "objectClass": ("organizationalUnit", "idhubOrgUnit"),
            "ou": ("mid",),
            "idhubUnitId": (mid_key,),
        },
    )
    assert mid.name is not None
    low = ensure_unit(uniq("u"), "low", mid.name)
    assert low.name is not None
    people = [
        create_person(uniq("p"), f"u{i}", parent)
        for i, parent in enumerate([top.name, mid.name, low.name] * 5)
    ]
    ok(connector.apply([top, mid, low, *people]))
    assert count(admin, "(objectClass=idhubPerson)", top.name) == 15
    ok(connector.apply([top, mid, low, *people]))  # and again: nothing new
    assert count(admin, "(objectClass=idhubPerson)", top.name) == 15


# ---------------------------------------------------------------------- containers


def test_ensure_and_remove_container(connector: LdapConnector, admin, unit: str) -> None:
    ensure = ensure_unit(uniq("u"), NASTY_OU, unit)
    assert ensure.name is not None
    ok(connector.apply([ensure, ensure]))  # the second finds it there: fine
    assert n(ensure.name) in connector.containers()
    assert n(unit) in connector.containers()
    found = connector.read(ensure.target)
    assert found is not None and found.groups is None
    assert ldap.dn.str2dn(found.name)[0][0][1] == NASTY_OU

    person = create_person(uniq("p"), uniq("inside"), ensure.name)
    ok(connector.apply([person]))
    remove = Operation(OpKind.REMOVE_CONTAINER, ensure.target, current=ensure.name)
    [blocked] = connector.apply([remove])
    assert isinstance(blocked.error, Conflict) and "entries below" in str(blocked.error)

    delete = Operation(OpKind.DELETE, person.target, current=person.name)
    ok(connector.apply([delete, remove]))
    assert not exists(admin, ensure.name)
    assert n(ensure.name) not in connector.containers()
    ok(connector.apply([delete, remove]))  # both gone already: fine


# ---------------------------------------------------------------------- modify


def test_modify_replace_remove_and_retry(connector: LdapConnector, admin, unit: str) -> None:
    create = create_person(uniq("p"), uniq("mod"), unit)
    ok(connector.apply([create]))
    key = create.target.id
    modify = op(
        OpKind.MODIFY,
        key,
        create.name,
        attributes={
            "title": ("Phó Chánh Văn phòng",),
            "mail": ("a@laichau.gov.vn", "b@laichau.gov.vn"),
            "departmentNumber": (),  # present: removed
            "description": (),  # absent: nothing to do, no error
        },
    )
    ok(connector.apply([modify]))
    ok(connector.apply([modify]))  # a retry changes nothing and fails nothing
    account = connector.read(AccountKey(key))
    assert account is not None
    assert account.get("title") == ("Phó Chánh Văn phòng",)
    assert sorted(account.get("mail")) == ["a@laichau.gov.vn", "b@laichau.gov.vn"]
    assert account.get("departmentNumber") == ()

    results = connector.apply(
        [
            op(OpKind.MODIFY, key, create.name, attributes={"idhubMailQuota": ("lots",)}),
            op(OpKind.MODIFY, key, create.name, attributes={"noSuchAttribute": ("x",)}),
            op(OpKind.MODIFY, key, create.name, attributes={"idhubPersonId": ()}),  # MUST
            op(OpKind.MODIFY, key, create.name, attributes={"employeeNumber": ("CC-0002",)}),
        ]
    )
    assert [type(r.error) for r in results] == [InvalidData] * 3 + [type(None)]


def test_modify_finds_a_moved_entry_by_its_key(connector: LdapConnector, admin, unit: str) -> None:
    create = create_person(uniq("p"), uniq("moved"), unit)
    ok(connector.apply([create]))
    assert create.name is not None
    elsewhere = ensure_unit(uniq("u"), uniq("elsewhere"), BASE_DN)
    ok(connector.apply([elsewhere]))
    admin.rename_s(create.name, ldap.dn.dn2str(ldap.dn.str2dn(create.name)[:1]), elsewhere.name)
    key = create.target.id

    stale = op(OpKind.MODIFY, key, create.name, attributes={"title": ("Văn thư",)})
    unknown = op(OpKind.DISABLE, key, None)  # the planner did not say where: search
    [modified, disabled] = ok(connector.apply([stale, unknown]))
    now = person_dn(create.attributes["uid"][0], str(elsewhere.name))
    assert n(str(modified.name)) == n(now) and n(str(disabled.name)) == n(now)
    account = connector.read(AccountKey(key))
    assert account is not None and account.get("title") == ("Văn thư",)
    assert account.get("idhubAccountStatus") == ("disabled",)

    gone = op(OpKind.MODIFY, "nobody-has-this-key", create.name, attributes={"title": ("x",)})
    [vanished] = connector.apply([gone])
    assert isinstance(vanished.error, Conflict) and "vanished" in str(vanished.error)


def test_a_stale_dn_naming_someone_else_is_never_touched(
    connector: LdapConnector, admin, unit: str
) -> None:
    """The planner read A at uid=lan; A moved away and B was given uid=lan since. Every
    operation asserts the key, so B is left alone and A is found by its key."""
    a = create_person(uniq("p"), uniq("lan"), unit)
    ok(connector.apply([a]))
    assert a.name is not None
    elsewhere = ensure_unit(uniq("u"), uniq("elsewhere"), BASE_DN)
    ok(connector.apply([elsewhere]))
    admin.rename_s(a.name, ldap.dn.dn2str(ldap.dn.str2dn(a.name)[:1]), elsewhere.name)
    b = create_person(uniq("p"), a.attributes["uid"][0], unit)  # same DN, another person
    ok(connector.apply([b]))
    a_now = person_dn(a.attributes["uid"][0], str(elsewhere.name))

    results = ok(
        connector.apply(
            [
                op(OpKind.MODIFY, a.target.id, a.name, attributes={"title": ("Kế toán",)}),
                op(OpKind.DISABLE, a.target.id, a.name),
                op(
                    OpKind.RENAME,
                    a.target.id,
                    a.name,
                    name=person_dn(uniq("lan2"), str(elsewhere.name)),
                ),
            ]
        )
    )
    assert n(str(results[0].name)) == n(a_now)
    b_now = connector.read(b.target)
    assert b_now is not None and b_now.name == b.name
    assert b_now.get("title") == ("Chuyên viên",) and b_now.get("idhubAccountStatus") == ("active",)
    [deleted] = ok(connector.apply([op(OpKind.DELETE, a.target.id, a.name)]))
    assert deleted.name is not None and n(deleted.name) != n(str(b.name))
    assert exists(admin, str(b.name)) and connector.read(a.target) is None


# ---------------------------------------------------------------------- move, rename


def test_membership_follows_move_and_rename(connector: LdapConnector, admin, unit: str) -> None:
    a = ensure_unit(uniq("u"), uniq("a"), unit)
    b = ensure_unit(uniq("u"), NASTY_OU_2, unit)
    assert a.name is not None and b.name is not None
    key, uid = uniq("p"), uniq("thang")
    create = create_person(key, uid, a.name)
    assert create.name is not None
    g1, g2 = group_dn(uniq("ke-toan")), group_dn(uniq("van-thu"))
    ok(
        connector.apply(
            [
                a,
                b,
                create,
                member(OpKind.ADD_MEMBER, key, g1, create.name),
                member(OpKind.ADD_MEMBER, key, g2, create.name),
            ]
        )
    )
    assert member_of(admin, create.name) == {n(g1), n(g2)}

    moved = person_dn(uid, b.name)
    move = op(OpKind.MOVE, key, create.name, name=moved)
    [result] = ok(connector.apply([move]))
    assert result.name == moved
    # Membership is on the entry: it moved with it, no group was written.
    assert members_of(admin, g1) == {n(moved)} and members_of(admin, g2) == {n(moved)}
    assert member_of(admin, moved) == {n(g1), n(g2)}
    account = connector.read(AccountKey(key))
    assert account is not None and n(account.name) == n(moved)
    assert account.groups == frozenset({n(g1), n(g2)})

    renamed = person_dn(NASTY_UID, b.name)
    rename = op(OpKind.RENAME, key, moved, name=renamed)
    ok(connector.apply([rename]))
    assert members_of(admin, g1) == {n(renamed)} and members_of(admin, g2) == {n(renamed)}
    account = connector.read(AccountKey(key))
    assert account is not None and n(account.name) == n(renamed)
    assert account.get("uid") == (NASTY_UID,)  # delold: the old uid value is gone
    assert account.groups == frozenset({n(g1), n(g2)})

    # Retries: the entry is already where the operations want it.
    [again_move, again_rename] = ok(connector.apply([move, rename]))
    assert again_rename.name == renamed
    assert count(admin, f"(idhubPersonId={key})") == 1


def test_moves_and_modifies_of_many_entries_are_pipelined_and_stale_ones_redone(
    connector: LdapConnector, admin, unit: str
) -> None:
    """A restructure's batch: every entry moves, then gets new attributes and a group.
    Sent pipelined at the DNs the planner read; an entry moved by hand meanwhile, or one
    already in the group, fails its fast attempt and is redone the careful way."""
    old = ensure_unit(uniq("u"), uniq("old"), unit)
    new = ensure_unit(uniq("u"), uniq("new"), unit)
    aside = ensure_unit(uniq("u"), uniq("aside"), unit)
    ok(connector.apply([old, new, aside]))
    group = group_dn(uniq("commune"))
    people = [create_person(uniq("p"), uniq("mv"), str(old.name)) for _ in range(40)]
    ok(connector.apply(people + [member(OpKind.ADD_MEMBER, people[5].target.id, group, None)]))
    for moved in (people[3], people[17]):  # by hand, behind the planner's back
        admin.rename_s(str(moved.name), rdn("uid", moved.attributes["uid"][0]), str(aside.name))

    batch = []
    for p in people:
        target = person_dn(p.attributes["uid"][0], str(new.name))
        batch += [
            Operation(OpKind.MOVE, p.target, name=target, current=p.name),
            Operation(
                OpKind.MODIFY, p.target, attributes={"title": ("Công chức",)}, current=target
            ),
            member(OpKind.ADD_MEMBER, p.target.id, group, target),
        ]
    results = ok(connector.apply(batch))
    assert len(results) == len(batch)
    for p in people:
        account = connector.read(p.target)
        assert account is not None
        assert n(account.name) == n(person_dn(p.attributes["uid"][0], str(new.name)))
        assert account.get("title") == ("Công chức",)
        assert account.groups == {n(group)}
    assert count(admin, "(objectClass=idhubPerson)", str(old.name)) == 0
    assert count(admin, "(objectClass=idhubPerson)", str(aside.name)) == 0
    assert ok(connector.apply(batch))  # again: already true, still no error


def test_move_failures(connector: LdapConnector, unit: str) -> None:
    first = create_person(uniq("p"), uniq("first"), unit)
    second = create_person(uniq("p"), uniq("second"), unit)
    ok(connector.apply([first, second]))
    assert first.name is not None and second.name is not None
    results = connector.apply(
        [
            op(OpKind.MOVE, first.target.id, first.name, name=person_dn("x", f"ou=none,{BASE_DN}")),
            op(OpKind.RENAME, first.target.id, first.name, name=second.name),
            op(OpKind.MOVE, "no-such-key", None, name=person_dn("y", unit)),
        ]
    )
    assert all(isinstance(r.error, Conflict) for r in results), results
    assert "does not exist" in str(results[0].error)
    assert "taken by another entry" in str(results[1].error)
    assert "vanished" in str(results[2].error)


def test_members_below_a_moved_ou_follow(connector: LdapConnector, admin, unit: str) -> None:
    """A unit renamed or moved (subtree modrdn): the members below it stay members."""
    old = ensure_unit(uniq("u"), uniq("old"), unit)
    assert old.name is not None
    people = [create_person(uniq("p"), uniq("staff"), old.name) for _ in range(3)]
    group = group_dn(uniq("all-staff"))
    ok(
        connector.apply(
            [old, *people, *(member(OpKind.ADD_MEMBER, p.target.id, group, p.name) for p in people)]
        )
    )
    new_parent = f"{rdn('ou', 'Xã Tam Đường, mới')},{unit}"
    rename = Operation(OpKind.RENAME, old.target, name=new_parent, current=old.name)
    ok(connector.apply([rename]))
    wanted = {n(person_dn(p.attributes["uid"][0], new_parent)) for p in people}
    assert members_of(admin, group) == wanted
    accounts = connector.read_many([p.target for p in people])
    assert {n(a.name) for a in accounts.values()} == wanted
    assert all(a.groups == frozenset({n(group)}) for a in accounts.values())


# ---------------------------------------------------------------------- disable, enable


def test_disabled_account_cannot_bind(connector: LdapConnector, server: Slapd, unit: str) -> None:
    password = "Mật khẩu tốt 2025!"
    create = create_person(uniq("p"), uniq("bind"), unit, password=password)
    ok(connector.apply([create]))
    dn = str(create.name)

    def bind() -> None:
        conn = ldap.initialize(server.url)
        try:
            conn.simple_bind_s(dn, password)
        finally:
            conn.unbind_s()

    bind()
    disable = op(OpKind.DISABLE, create.target.id, dn)
    ok(connector.apply([disable, disable]))  # twice: still fine
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        bind()
    admin = server.connect()  # the admin (rootdn) is not affected …
    [(_dn, entry)] = admin.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["userPassword"])
    assert entry["userPassword"][0].startswith(b"{ARGON2}")  # … and the hash is kept
    admin.unbind_s()

    enable = op(OpKind.ENABLE, create.target.id, dn)
    ok(connector.apply([enable, enable]))
    bind()  # the same password works again
    account = connector.read(create.target)
    assert account is not None and account.get("idhubAccountStatus") == ("active",)


# ---------------------------------------------------------------------- delete


def test_delete_and_its_retry(connector: LdapConnector, admin, unit: str) -> None:
    create = create_person(uniq("p"), uniq("leaver"), unit)
    group = group_dn(uniq("g"))
    keep = create_person(uniq("p"), uniq("stays"), unit)
    ok(
        connector.apply(
            [
                create,
                keep,
                member(OpKind.ADD_MEMBER, create.target.id, group, create.name),
                member(OpKind.ADD_MEMBER, keep.target.id, group, keep.name),
            ]
        )
    )
    delete = op(OpKind.DELETE, create.target.id, create.name)
    [deleted] = ok(connector.apply([delete]))
    assert deleted.name == create.name and not exists(admin, str(create.name))
    assert members_of(admin, group) == {n(str(keep.name))}  # no dangling member
    [again] = ok(connector.apply([delete]))
    assert again.name is None  # nothing was there any more
