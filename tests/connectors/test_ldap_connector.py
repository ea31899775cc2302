"""The LDAP connector's writes (apply), batch reads and DN handling, against a real slapd
configured from config/ldap/slapd.conf.tmpl (dynlist overlay for the hub's groups, the
disabled-account ACL)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import argon2
import ldap
import ldap.dn
import ldap.filter
import pytest

from connectors.base import (
    Account,
    AccountKey,
    Capability,
    Conflict,
    InvalidData,
    KeyKind,
    Operation,
    OpKind,
    Result,
    TargetUnavailable,
)
from connectors.ldap import DuplicateKeys, LdapConnector, normalize_dn
from idhub.ops.devstack.slapd import Slapd
from tests.fixtures.ldap import ADMIN_DN, ADMIN_PASSWORD, BASE_DN, connector_for, make_slapd

GROUPS = f"ou=groups,{BASE_DN}"
_serial = itertools.count()

# Values that need DN escaping (RFC 4514: , + " \ < > ; leading space or #, trailing
# space) and Vietnamese letters.
NASTY_UID = ' #Nguyễn, Văn+Tám "Bé" <Út>; \\ '
NASTY_OU = "#Phòng Tài chính, Kế hoạch + Đầu tư "
NASTY_OU_2 = ' Sở "Nội vụ"; Tổ #2\\'
NASTY_GROUP = ' Nhóm "Văn thư", #1 + Ý\\'
# Keys that would widen or break an unescaped filter.
NASTY_KEYS = ["*", "*)(idhubPersonId=*", "a*", "(", "\\", "*)(\\ Nguyễn Đức Thắng", "x)(|(uid=*"]


# ---------------------------------------------------------------------- helpers


def uniq(prefix: str) -> str:
    return f"{prefix}-{next(_serial)}"


def rdn(attr: str, value: str) -> str:
    return f"{attr}={ldap.dn.escape_dn_chars(value)}"


def person_dn(uid: str, parent: str) -> str:
    return f"{rdn('uid', uid)},{parent}"


def group_dn(name: str) -> str:
    return f"{rdn('cn', name)},{GROUPS}"


def create_person(
    key: str, uid: str, parent: str, *, password: str | None = None, **extra: tuple[str, ...]
) -> Operation:
    """A CREATE as the planner writes it (inetOrgPerson + idhubPerson)."""
    attributes: dict[str, tuple[str, ...]] = {
        "objectClass": ("inetOrgPerson", "idhubPerson"),
        "uid": (uid,),
        "cn": (f"Nguyễn Văn {uid}",),
        "sn": ("Nguyễn",),
        "givenName": (uid,),
        "displayName": (f"Nguyễn Văn {uid}",),
        "mail": (f"{abs(hash(uid))}@laichau.gov.vn",),
        "title": ("Chuyên viên",),
        "departmentNumber": ("VP-01",),
        "ou": ("Văn phòng",),
        "employeeNumber": ("CC-0001",),
        "idhubPersonId": (key,),
        "idhubAccountStatus": ("active",),
        "idhubManaged": ("TRUE",),
        "description": (),  # empty values are left out
    }
    if password is not None:
        attributes["userPassword"] = ("{ARGON2}" + argon2.PasswordHasher().hash(password),)
    attributes.update(extra)
    return Operation(
        OpKind.CREATE, AccountKey(key), name=person_dn(uid, parent), attributes=attributes
    )


def ensure_unit(unit_id: str, code: str, parent: str) -> Operation:
    return Operation(
        OpKind.ENSURE_CONTAINER,
        AccountKey(unit_id, KeyKind.UNIT),
        name=f"{rdn('ou', code)},{parent}",
        attributes={
            "objectClass": ("organizationalUnit", "idhubOrgUnit"),
            "ou": (code,),
            "idhubUnitId": (unit_id,),
            "idhubManaged": ("TRUE",),
        },
    )


def member(kind: OpKind, key: str, group: str, current: str | None) -> Operation:
    return Operation(kind, AccountKey(key), group=group, current=current)


def op(kind: OpKind, key: str, current: str | None = None, **kw: object) -> Operation:
    return Operation(kind, AccountKey(key), current=current, **kw)  # type: ignore[arg-type]


def ok(results: list[Result]) -> list[Result]:
    errors = [(r.operation.kind, r.operation.target, r.error) for r in results if not r.ok]
    assert not errors, errors
    return results


def members_of(conn: ldap.ldapobject.LDAPObject, group: str) -> set[str]:
    [(_dn, entry)] = conn.search_s(group, ldap.SCOPE_BASE, "(objectClass=*)", ["member"])
    return {normalize_dn(v.decode()) for v in entry.get("member", [])}


def member_of(conn: ldap.ldapobject.LDAPObject, dn: str) -> set[str]:
    [(_dn, entry)] = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["memberOf"])
    return {normalize_dn(v.decode()) for v in entry.get("memberOf", [])}


def exists(conn: ldap.ldapobject.LDAPObject, dn: str) -> bool:
    try:
        conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["1.1"])
    except ldap.NO_SUCH_OBJECT:
        return False
    return True


def count(conn: ldap.ldapobject.LDAPObject, flt: str, base: str = BASE_DN) -> int:
    return len(conn.search_s(base, ldap.SCOPE_SUBTREE, flt, ["1.1"]))


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """For refint's work, which runs in the background a few ms after the answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


def n(dn: str) -> str:
    return normalize_dn(dn)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    with make_slapd(tmp_path_factory.mktemp("ldap-connector")) as running:
        conn = running.connect()
        conn.add_s(GROUPS, [("objectClass", [b"organizationalUnit"]), ("ou", [b"groups"])])
        conn.unbind_s()
        yield running


@pytest.fixture(scope="module")
def connector(server: Slapd) -> Iterator[LdapConnector]:
    connector = connector_for(server)
    yield connector
    connector.close()


@pytest.fixture(scope="module")
def admin(server: Slapd) -> Iterator[ldap.ldapobject.LDAPObject]:
    conn = server.connect()
    yield conn
    conn.unbind_s()


@pytest.fixture
def unit(connector: LdapConnector) -> str:
    """A fresh OU under the base for one test."""
    ensure = ensure_unit(uniq("unit"), uniq("ou"), BASE_DN)
    ok(connector.apply([ensure]))
    assert ensure.name is not None
    return ensure.name


# ---------------------------------------------------------------------- DNs and basics


def test_normalize_dn_is_the_planner_s() -> None:
    from provisioning.dn import normalize_dn as planner_normalize

    same = [
        ("UID=Lan,OU=Sở Nội Vụ,DC=IDHub,dc=gov", "uid=lan,ou=sở nội vụ,dc=idhub,dc=gov"),
        ("cn=A\\2CB,dc=x", "CN=a\\,b,DC=X"),
        ("cn=\\C3\\9D,dc=x", "cn=Ý,dc=x"),  # hex-escaped UTF-8 vs the letter
        ("cn=a+uid=b,dc=x", "uid=B+cn=A,dc=x"),  # multi-valued RDN, any order
        ("ou=\\ x,dc=x", "ou=\\20x,dc=x"),
    ]
    for a, b in same:
        assert normalize_dn(a) == normalize_dn(b), (a, b)
    for dn in [a for a, _ in same] + [person_dn(NASTY_UID, f"{rdn('ou', NASTY_OU)},{BASE_DN}")]:
        assert normalize_dn(dn) == planner_normalize(dn), dn
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


# ---------------------------------------------------------------------- failures


def apply_in_background(
    connector: LdapConnector, batch: list[Operation]
) -> tuple[threading.Thread, list[object]]:
    """connector.apply(batch) in a thread; its Results or its exception land in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(connector.apply(batch))
        except Exception as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    return worker, outcome


def assert_cut_off(worker: threading.Thread, outcome: list[object]) -> None:
    """The batch ended because the server went away: raised, or said so in its Results."""
    worker.join(30)
    assert not worker.is_alive()
    [result] = outcome
    if isinstance(result, list):
        assert any(isinstance(r.error, TargetUnavailable) for r in result)
    else:
        assert isinstance(result, TargetUnavailable), result


def test_server_stopped_mid_batch_then_the_batch_again(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as server:
        admin = server.connect()
        admin.add_s(GROUPS, [("objectClass", [b"organizationalUnit"]), ("ou", [b"groups"])])
        admin.unbind_s()
        connector = connector_for(server, timeout_s=2.0)
        staff = ensure_unit("u-staff", "staff", BASE_DN)
        people = [create_person(f"k-{i}", f"user{i:05d}", str(staff.name)) for i in range(3000)]
        group = group_dn("everyone")
        batch = [
            staff,
            *people,
            *(member(OpKind.ADD_MEMBER, p.target.id, group, p.name) for p in people),
        ]

        worker, outcome = apply_in_background(connector, batch)
        watcher = server.connect()
        assert eventually(
            lambda: (
                exists(watcher, str(staff.name))
                and count(watcher, "(objectClass=idhubPerson)") >= 300
            ),
            timeout=10,
        )
        watcher.unbind_s()
        server.stop()
        assert_cut_off(worker, outcome)

        server.start()  # same port, same data: the same batch again
        results = connector.apply(batch)
        ok(results)
        check = server.connect()
        assert count(check, "(objectClass=idhubPerson)") == 3000
        ids = [
            e["idhubPersonId"][0]
            for _, e in check.search_s(
                BASE_DN, ldap.SCOPE_SUBTREE, "(objectClass=idhubPerson)", ["idhubPersonId"]
            )
        ]
        assert len(set(ids)) == 3000  # no duplicates
        assert members_of(check, group) == {n(str(p.name)) for p in people}
        check.unbind_s()
        connector.close()


def test_server_stopped_mid_moves_then_the_moves_again(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as server:
        connector = connector_for(server, timeout_s=2.0)
        old = ensure_unit("u-old", "old", BASE_DN)
        new = ensure_unit("u-new", "new", BASE_DN)
        people = [create_person(f"k-{i}", f"user{i:05d}", str(old.name)) for i in range(3000)]
        ok(connector.apply([old, new, *people]))
        batch = []
        for p in people:
            target = person_dn(p.attributes["uid"][0], str(new.name))
            batch += [
                Operation(OpKind.MOVE, p.target, name=target, current=p.name),
                Operation(OpKind.MODIFY, p.target, attributes={"ou": ("Mới",)}, current=target),
            ]
        worker, outcome = apply_in_background(connector, batch)
        watcher = server.connect()
        assert eventually(
            lambda: count(watcher, "(objectClass=idhubPerson)", str(new.name)) >= 300, timeout=10
        )
        watcher.unbind_s()
        server.stop()
        assert_cut_off(worker, outcome)

        server.start()  # the same batch again, with the DNs the planner read before
        ok(connector.apply(batch))
        check = server.connect()
        assert count(check, "(objectClass=idhubPerson)", str(new.name)) == 3000
        assert count(check, "(objectClass=idhubPerson)", str(old.name)) == 0
        assert count(check, "(ou=Mới)", str(new.name)) == 3000
        check.unbind_s()
        connector.close()


def test_apply_against_a_stopped_server_raises(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as server:
        connector = connector_for(server, timeout_s=1.0)
        assert connector.check().ok
        server.stop()
        with pytest.raises(TargetUnavailable):
            connector.apply([op(OpKind.DISABLE, "x", f"uid=x,{BASE_DN}")])
        with pytest.raises(TargetUnavailable):
            connector.read_many([AccountKey("x")])


# ---------------------------------------------------------------------- the config


def test_an_existing_data_folder_starts_with_the_new_config(tmp_path: Path) -> None:
    """`make run` reuses var/slapd: data written under the previous slapd.conf (no
    overlays, fewer indexes) must start, and be found by the new indexes."""

    class OldSlapd(Slapd):
        def _render_config(self) -> str:
            skip = (
                "overlay",
                "dynlist-",
                "index   idhubMemberOf",
                "index   idhubAccountStatus",
                "moduleload      dynlist",
            )
            return "\n".join(
                line for line in super()._render_config().splitlines() if not line.startswith(skip)
            )

    old = OldSlapd(tmp_path, base_dn=BASE_DN, admin_dn=ADMIN_DN, admin_password=ADMIN_PASSWORD)
    with old:
        assert not [
            line for line in old.conf_path.read_text().splitlines() if line.startswith("overlay")
        ]
        conn = old.connect()
        conn.add_s(GROUPS, [("objectClass", [b"organizationalUnit"]), ("ou", [b"groups"])])
        conn.add_s(
            f"uid=early,{BASE_DN}",
            [
                ("objectClass", [b"inetOrgPerson", b"idhubPerson"]),
                ("uid", [b"early"]),
                ("cn", [b"early"]),
                ("sn", [b"early"]),
                ("idhubPersonId", [b"early"]),
                ("idhubAccountStatus", [b"active"]),
            ],
        )
        conn.unbind_s()

    with make_slapd(tmp_path) as new:
        conn = new.connect()
        # The index added since is rebuilt at start (else this search finds nothing).
        assert count(conn, "(&(uid=early)(idhubAccountStatus=active))") == 1
        connector = connector_for(new)
        group = group_dn("later")
        ok(connector.apply([member(OpKind.ADD_MEMBER, "early", group, f"uid=early,{BASE_DN}")]))
        assert member_of(conn, f"uid=early,{BASE_DN}") == {n(group)}  # new changes: memberOf
        conn.unbind_s()
        connector.close()
