"""connectors.dn and provisioning.planner: DNs, and the fewest operations to converge.

Pure and fast. A small in-memory directory (`Directory`) applies plans the way slapd
would (modrdn with deleteoldrdn, member values as DNs, optional refint) and refuses
what slapd would refuse, so the properties at the end check convergence in one step.
"""

from __future__ import annotations

import dataclasses
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from connectors.base import Account, AccountKey, KeyKind, Operation, OpKind
from connectors.dn import (
    child_dn,
    escape_rdn_value,
    normalize_dn,
    parent_dn,
    rdn,
    rdn_of,
    rdn_value,
    same_dn,
    split_dn,
)
from provisioning.model import AccountState, DesiredAccount, PersonSnapshot, PostKind
from provisioning.planner import describe, plan
from provisioning.rules import Rules
from tests.provisioning.test_policy import (
    BASE,
    COMMUNE,
    GROUPS,
    QLNS,
    TCCB,
    TODAY,
    days,
    desired,
    person,
    persons,
    post,
    rule_sets,
)

# =========================================================================== dn


TRICKY_VALUES = [
    "A,B", "x+y", 'say "hi"', " lead", "trail ", "  ", "#hash", "x#", "k=v", "back\\slash",
    "a;b<c>", "Sở Nội vụ", "Phòng Tổ chức – Biên chế", "\x00nul", "tab\t", "\nnew", "ǰ",
]  # fmt: skip


@pytest.mark.parametrize("value", TRICKY_VALUES)
def test_escaped_values_round_trip(value: str) -> None:
    dn = child_dn("ou", value, BASE)
    parsed = split_dn(dn)
    assert parsed[0][0][1] == value
    assert [r[0][1] for r in parsed[1:]] == ["idhub", "gov", "vn"]
    assert rdn_value(dn) == value
    assert parent_dn(dn) == BASE
    assert same_dn(dn, dn.upper() if value.isascii() else dn)


@settings(max_examples=500, deadline=None)
@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_any_value_round_trips_and_normalizes_idempotently(a: str, b: str) -> None:
    dn = child_dn("uid", a, child_dn("ou", b, BASE))
    assert [r[0][1] for r in split_dn(dn)[:2]] == [a, b]
    norm = normalize_dn(dn)
    assert normalize_dn(norm) == norm
    assert normalize_dn(parent_dn(dn)) == normalize_dn(child_dn("ou", b, BASE))


def _reference_normalize(dn: str) -> str:
    """normalize_dn without the shortcut: the whole DN parsed at once."""
    from connectors.dn import _folded

    return _folded(split_dn(dn))


def _reference_parent(dn: str) -> str:
    from connectors.dn import _join

    return _join(split_dn(dn)[1:])


_DN_PARTS = st.sampled_from(
    [
        "uid",
        "UID",
        "ou",
        "cn",
        "dc",
        "=",
        ",",
        ", ",
        "+",
        "\\",
        "\\,",
        "\\2C",
        '"',
        ";",
        " ",
        "a",
        "Sở",
        "Nội vụ",
        "#04",
        "x=y",
        "Đ",
        "\u0301",
    ]
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_DN_PARTS, min_size=1, max_size=12).map("".join))
def test_normalize_and_parent_agree_with_parsing_the_whole_dn(dn: str) -> None:
    """The shortcut (first RDN parsed alone, the rest cached) changes nothing: the same
    result, or the same refusal, as parsing the whole DN."""
    for fast, slow in ((normalize_dn, _reference_normalize), (parent_dn, _reference_parent)):
        try:
            expected = slow(dn)
        except ValueError:
            with pytest.raises(ValueError):
                fast(dn)
        else:
            assert fast(dn) == expected, dn


def test_escaping_examples() -> None:
    assert escape_rdn_value("A,B+C") == "A\\,B\\+C"
    assert escape_rdn_value(' a"b ') == '\\ a\\"b\\ '
    assert escape_rdn_value("#x#") == "\\#x#"
    assert escape_rdn_value("k=v;\\") == "k\\=v\\;\\\\"
    assert escape_rdn_value("Sở Nội vụ") == "Sở Nội vụ"
    assert escape_rdn_value("\n") == "\\0A"
    assert rdn("ou", "A,B") == "ou=A\\,B"
    assert child_dn("ou", "x", "") == "ou=x"
    with pytest.raises(ValueError):
        escape_rdn_value("")
    with pytest.raises(ValueError):
        rdn("o u", "x")


def test_normalize_dn_ignores_case_escaping_and_rdn_order() -> None:
    assert normalize_dn("UID=A\\,b,OU=X,dc=Y") == normalize_dn("uid=a\\,B,ou=x,dc=y")
    assert normalize_dn("uid=a\\2Cb,dc=x") == normalize_dn("uid=a\\,b,dc=x")
    assert normalize_dn("ou=S\\E1\\BB\\9F,dc=x") == normalize_dn("OU=SỞ,DC=X")
    assert normalize_dn("ou=Sở, dc=x") == normalize_dn("ou=Sở,dc=x")
    nfd = unicodedata.normalize("NFD", "ou=Sở Nội Vụ,dc=x")
    assert normalize_dn(nfd) == normalize_dn("ou=sở nội vụ,dc=x")
    assert normalize_dn("cn=a+sn=b,dc=x") == normalize_dn("SN=B+CN=A,dc=x")
    assert normalize_dn("ou=a,dc=x") != normalize_dn("ou=a\\ ,dc=x")
    assert normalize_dn("") == ""
    with pytest.raises(ValueError, match="not a valid DN"):
        normalize_dn("no equals sign")


def test_parent_and_rdn_of() -> None:
    dn = "uid=a\\2Cb,ou=X\\+Y,dc=z"
    assert parent_dn(dn) == "ou=X\\+Y,dc=z"
    assert rdn_of(dn) == "uid=a\\,b"
    assert parent_dn("dc=z") == ""
    assert rdn_value("") == ""
    with pytest.raises(ValueError):
        rdn_of("")


# =========================================================================== planner helpers

PID = "6f1c2d3e-0000-4000-8000-000000000001"
KEY = AccountKey(PID)
FANS = f"cn=fans,ou=clubs,{BASE}"  # a group the hub does not manage


def norm(dns: Iterable[str]) -> set[str]:
    return {normalize_dn(dn) for dn in dns}


def account_from(
    d: DesiredAccount,
    *,
    name: str | None = None,
    groups: Iterable[str] | None = None,
    **changes: tuple[str, ...],
) -> Account:
    """The account a directory holding exactly `d` would return (then changed)."""
    attributes = {k: v for k, v in d.attributes.items() if v}
    attributes.update(changes)
    return Account(
        AccountKey(d.person_id),
        name or d.name,
        {k: v for k, v in attributes.items() if v},
        frozenset(d.groups if groups is None else groups),
    )


def all_containers(*ds: DesiredAccount) -> set[str]:
    return {normalize_dn(c.name) for d in ds for c in d.containers}


def kinds(ops: Sequence[Operation]) -> list[OpKind]:
    return [op.kind for op in ops]


def group(name: str) -> str:
    return f"cn={name},{GROUPS}"


def run(
    d: DesiredAccount,
    actual: Account | None,
    *,
    existing: Iterable[str] = (),
    managed: Iterable[str] | None = None,
    follow: bool = True,
) -> list[Operation]:
    managed_set = norm(managed) if managed is not None else norm(d.groups)
    if actual is not None and actual.groups and managed is None:
        managed_set |= {g for g in norm(actual.groups) if "ou=groups" in g}
    return plan(
        d,
        actual,
        existing_containers=norm(existing),
        managed_groups=managed_set,
        members_follow_moves=follow,
    )


STAFF = desired(person(post(TCCB, "CHUYEN_VIEN")))


# =========================================================================== create


def test_create_from_nothing_ensures_every_container_root_first() -> None:
    ops = run(STAFF, None)
    assert kinds(ops) == [OpKind.ENSURE_CONTAINER] * 3 + [OpKind.CREATE] + [OpKind.ADD_MEMBER] * 3
    assert [op.name for op in ops[:3]] == [c.name for c in STAFF.containers]
    assert [op.target for op in ops[:3]] == [
        AccountKey(f"id-{code}", KeyKind.UNIT) for code in ("12", "SNV", "SNV.TCCB")
    ]
    assert ops[2].attributes["idhubUnitId"] == ("id-SNV.TCCB",)
    create = ops[3]
    assert create.target == KEY and create.name == STAFF.name and create.current is None
    assert dict(create.attributes) == {k: v for k, v in STAFF.attributes.items() if v}
    assert create.attributes["objectClass"] == ("inetOrgPerson", "idhubPerson")
    assert create.reason == "new account (enabled: 1 post held today, status active)"
    adds = ops[4:]
    assert [op.group for op in adds] == sorted(
        STAFF.groups, key=normalize_dn
    )  # deterministic order
    assert all(op.current == STAFF.name for op in adds)


def test_create_ensures_only_missing_containers() -> None:
    existing = ["OU=12," + BASE.upper(), f"ou=SNV,ou=12,{BASE}"]  # any case
    ops = run(STAFF, None, existing=existing)
    assert kinds(ops)[:2] == [OpKind.ENSURE_CONTAINER, OpKind.CREATE]
    assert ops[0].name == STAFF.containers[-1].name
    assert kinds(run(STAFF, None, existing=[c.name for c in STAFF.containers]))[0] is OpKind.CREATE


def test_create_disabled_leaver_in_former_without_groups_or_disable() -> None:
    leaver = desired(person(post(end=TODAY - days(3))))
    ops = run(leaver, None)
    assert kinds(ops) == [OpKind.ENSURE_CONTAINER, OpKind.CREATE]
    assert ops[0].target == AccountKey(normalize_dn(f"ou=former,{BASE}"), KeyKind.UNIT)
    assert dict(ops[0].attributes) == {
        "objectClass": ("organizationalUnit",),
        "ou": ("former",),
        "description": ("Former staff",),
    }
    assert ops[1].attributes["idhubAccountStatus"] == ("disabled",)
    assert "title" not in ops[1].attributes  # () values are not written


# =========================================================================== no-op


def test_equal_is_empty_plan_even_with_no_container_listed() -> None:
    assert run(STAFF, account_from(STAFF)) == []


def test_dn_case_and_escaping_differences_are_not_changes() -> None:
    actual = account_from(
        STAFF,
        name=STAFF.name.upper().replace("UID=ANNV", "uid=AnnV"),
        groups=[g.upper() for g in STAFF.groups],
    )
    assert run(STAFF, actual, managed=STAFF.groups) == []


def test_attribute_name_case_and_value_order_are_not_changes() -> None:
    attributes = {k.lower(): tuple(reversed(v)) for k, v in STAFF.attributes.items() if v}
    actual = Account(KEY, STAFF.name, attributes, frozenset(STAFF.groups))
    assert run(STAFF, actual) == []


def test_attributes_outside_the_hub_range_are_left_alone() -> None:
    actual = account_from(STAFF, telephoneNumber=("+84 213 000",), description=("x",))
    assert run(STAFF, actual) == []


# =========================================================================== move / rename


def test_mover_without_refint_moves_then_modifies_and_rewrites_memberships() -> None:
    before = STAFF
    after = desired(person(post(TCCB, end=TODAY - days(1)), post(QLNS, start=TODAY)))
    actual = account_from(before)
    ops = run(
        after,
        actual,
        existing=all_containers(before),
        managed=before.groups | after.groups,
        follow=False,
    )
    removes = [op for op in ops if op.kind is OpKind.REMOVE_MEMBER]
    adds = [op for op in ops if op.kind is OpKind.ADD_MEMBER]
    assert kinds(ops) == (
        [OpKind.REMOVE_MEMBER] * len(before.groups)
        + [OpKind.ENSURE_CONTAINER] * 2
        + [OpKind.MOVE, OpKind.MODIFY]
        + [OpKind.ADD_MEMBER] * len(after.groups)
    )
    # without refint the groups hold the old DN: out under it, back in under the new one
    assert norm(op.group for op in removes if op.group) == norm(before.groups)
    assert all(op.current == before.name for op in removes)
    assert norm(op.group for op in adds if op.group) == norm(after.groups)
    assert all(op.current == after.name for op in adds)
    move = next(op for op in ops if op.kind is OpKind.MOVE)
    assert (move.name, move.current) == (after.name, before.name)
    assert move.reason == "unit changed: SNV.TCCB → STC.QLNS"
    assert [op.name for op in ops if op.kind is OpKind.ENSURE_CONTAINER] == [
        f"ou=STC,ou=12,{BASE}",
        f"ou=STC.QLNS,ou=STC,ou=12,{BASE}",
    ]
    modify = next(op for op in ops if op.kind is OpKind.MODIFY)
    assert modify.current == after.name
    assert set(modify.attributes) == {"mail", "departmentNumber", "ou"}


def test_mover_with_refint_plans_only_the_difference() -> None:
    after = desired(person(post(QLNS)))
    ops = plan(  # the default: the directory rewrites member values on modrdn
        after,
        account_from(STAFF),
        existing_containers=all_containers(STAFF, after),
        managed_groups=norm(STAFF.groups | after.groups),
    )
    assert kinds(ops) == [
        OpKind.REMOVE_MEMBER, OpKind.MOVE, OpKind.MODIFY, OpKind.ADD_MEMBER,
    ]  # fmt: skip
    assert rdn_value(ops[0].group or "") == "unit-snv.tccb"
    assert rdn_value(ops[-1].group or "") == "unit-stc.qlns"


def test_rename_when_only_the_rdn_changes() -> None:
    renamed = desired(person(post(TCCB), username="annv2"))
    ops = run(renamed, account_from(STAFF))
    assert kinds(ops) == [OpKind.RENAME, OpKind.MODIFY]
    assert ops[0].name == renamed.name and ops[0].current == STAFF.name
    assert ops[0].reason == "uid changed: annv → annv2"
    # modrdn already wrote the new uid: only mail is left to change
    assert dict(ops[1].attributes) == {"mail": ("annv2@snv.laichau.gov.vn",)}
    assert ops[1].current == renamed.name


def test_move_and_rename_together_is_one_move() -> None:
    after = desired(person(post(QLNS), username="annv2"))
    ops = run(after, account_from(STAFF), existing=all_containers(after))
    move = [op for op in ops if op.kind in (OpKind.MOVE, OpKind.RENAME)]
    assert len(move) == 1 and move[0].kind is OpKind.MOVE
    assert move[0].reason == "unit changed: SNV.TCCB → STC.QLNS; uid changed: annv → annv2"


# =========================================================================== modify


def test_position_change_modifies_only_title_and_adds_group() -> None:
    head = desired(person(post(TCCB, "TRUONG_PHONG")))
    ops = run(head, account_from(STAFF), managed=STAFF.groups | head.groups)
    assert kinds(ops) == [OpKind.MODIFY, OpKind.ADD_MEMBER]
    # a manager gets the larger mailbox quota class too
    assert dict(ops[0].attributes) == {
        "title": ("Trưởng phòng",),
        "idhubMailQuota": ("10737418240",),
    }
    assert ops[0].reason == "title changed; idhubMailQuota changed"
    assert ops[0].current == STAFF.name
    assert ops[1].group == group("managers")


def test_attribute_removed_added_and_repaired() -> None:
    no_code = desired(person(post(TCCB), civil_servant_code=None))
    ops = run(no_code, account_from(no_code, employeeNumber=("CC-0001",), mail=(),
                                    cn=("nguyễn văn an",)))  # fmt: skip
    assert kinds(ops) == [OpKind.MODIFY]
    assert dict(ops[0].attributes) == {
        "cn": ("Nguyễn Văn An",),
        "mail": ("annv@snv.laichau.gov.vn",),
        "employeeNumber": (),
    }
    assert ops[0].reason == "cn changed; mail added; employeeNumber removed"
    # an attribute that must be absent and is absent: nothing to do
    assert run(no_code, account_from(no_code)) == []


# =========================================================================== status


def test_suspension_disables_first_and_leaves_managed_groups() -> None:
    suspended = desired(person(post(TCCB), status="suspended"))
    actual = account_from(STAFF, groups=STAFF.groups | {FANS})
    ops = run(suspended, actual, managed=STAFF.groups)
    assert kinds(ops) == [OpKind.DISABLE] + [OpKind.REMOVE_MEMBER] * len(STAFF.groups)
    assert ops[0].current == STAFF.name
    assert ops[0].reason == "disabled: status suspended (1 post held today)"
    assert FANS not in {op.group for op in ops}
    assert all("idhubAccountStatus" not in op.attributes for op in ops)


def test_reinstatement_enables_last() -> None:
    suspended = desired(person(post(TCCB), status="suspended"))
    # (a suspended account keeps the quota it had: this one was written without)
    actual = account_from(suspended, idhubMailQuota=STAFF.attributes["idhubMailQuota"])
    ops = run(STAFF, actual, managed=STAFF.groups)
    assert kinds(ops) == [OpKind.ADD_MEMBER] * len(STAFF.groups) + [OpKind.ENABLE]
    assert ops[-1].current == STAFF.name


def test_status_compared_case_insensitively() -> None:
    assert run(STAFF, account_from(STAFF, idhubAccountStatus=("Active",))) == []
    ops = run(STAFF, account_from(STAFF, idhubAccountStatus=()))
    assert kinds(ops) == [OpKind.ENABLE]


# =========================================================================== groups


def test_groups_changed_only_within_managed_groups() -> None:
    stale = group("old-role")
    actual = account_from(STAFF, groups=(STAFF.groups - {group("all-staff")}) | {FANS, stale})
    ops = run(STAFF, actual, managed=STAFF.groups | {stale})
    assert kinds(ops) == [OpKind.REMOVE_MEMBER, OpKind.ADD_MEMBER]
    assert (ops[0].group, ops[0].current) == (stale, STAFF.name)
    assert ops[0].reason == "no role or unit gives this group any more"
    assert (ops[1].group, ops[1].current) == (group("all-staff"), STAFF.name)


def test_desired_group_the_hub_does_not_manage_yet_is_still_added() -> None:
    ops = run(STAFF, account_from(STAFF, groups=()), managed=())
    assert kinds(ops) == [OpKind.ADD_MEMBER] * len(STAFF.groups)


def test_groups_must_have_been_read() -> None:
    actual = dataclasses.replace(account_from(STAFF), groups=None)
    with pytest.raises(ValueError, match="not read"):
        run(STAFF, actual)


def test_account_of_someone_else_is_refused() -> None:
    other = dataclasses.replace(account_from(STAFF), key=AccountKey("someone-else"))
    with pytest.raises(ValueError, match="is not person"):
        run(STAFF, other)


# =========================================================================== leaver / absent


def test_leaver_plan_in_order() -> None:
    leaver = desired(person(post(TCCB, end=TODAY - days(1))))
    actual = account_from(STAFF, groups=STAFF.groups | {FANS})
    ops = run(leaver, actual, existing=all_containers(STAFF), managed=STAFF.groups)
    assert kinds(ops) == (
        [OpKind.DISABLE]
        + [OpKind.REMOVE_MEMBER] * len(STAFF.groups)
        + [OpKind.ENSURE_CONTAINER, OpKind.MOVE, OpKind.MODIFY]
    )
    assert ops[-2].reason == "unit changed: SNV.TCCB → former"
    assert dict(ops[-1].attributes) == {
        "title": (),
        "departmentNumber": (),
        "ou": (),
        "idhubMailForward": ("vanthu@snv.laichau.gov.vn",),  # no successor: the unit mailbox
    }
    assert ops[-1].current == leaver.name


def test_absent_removes_managed_memberships_then_deletes() -> None:
    gone = desired(person(post(end=TODAY - days(400))))
    assert gone.state is AccountState.ABSENT
    assert run(gone, None) == []
    actual = account_from(STAFF, groups=STAFF.groups | {FANS})
    ops = run(gone, actual, managed=STAFF.groups)
    assert kinds(ops) == [OpKind.REMOVE_MEMBER] * len(STAFF.groups) + [OpKind.DELETE]
    assert all(op.current == STAFF.name for op in ops)
    assert FANS not in {op.group for op in ops}
    assert ops[-1].reason.startswith("absent: left on")


def test_every_op_on_an_existing_entry_names_it() -> None:
    after = desired(person(post(QLNS, "TRUONG_PHONG"), username="annv2", status="suspended"))
    ops = run(after, account_from(STAFF), existing=all_containers(after))
    for op in ops:
        if op.kind in (OpKind.CREATE, OpKind.ENSURE_CONTAINER):
            assert op.current is None
        else:
            assert op.current in (STAFF.name, after.name), op


# =========================================================================== describe


def test_describe_is_json_friendly() -> None:
    ops = run(STAFF, None)
    preview = describe(ops)
    json.dumps(preview)
    assert preview[3] == {
        "kind": "create",
        "target": f"person:{PID}",
        "name": STAFF.name,
        "current": None,
        "attributes": {k: list(v) for k, v in STAFF.attributes.items() if v},
        "group": None,
        "reason": ops[3].reason,
    }
    assert preview[-1]["kind"] == "add_member" and preview[-1]["current"] == STAFF.name


# =========================================================================== simulator


@dataclass
class Entry:
    dn: str
    attributes: dict[str, tuple[str, ...]]

    def get(self, name: str) -> tuple[str, ...]:
        for key, values in self.attributes.items():
            if key.casefold() == name.casefold():
                return values
        return ()

    def put(self, name: str, values: tuple[str, ...]) -> None:
        for key in [k for k in self.attributes if k.casefold() == name.casefold()]:
            del self.attributes[key]
        if values:
            self.attributes[name] = values


@dataclass
class Group:
    dn: str
    managed: bool
    members: list[str] = field(default_factory=list)


class Refused(AssertionError):
    """What slapd would refuse, or an operation a correct plan never contains."""


class Directory:
    """A tiny LDAP: containers, person entries, groups with DN-valued members."""

    def __init__(self, *, refint: bool) -> None:
        self.refint = refint
        self.containers: dict[str, str] = {normalize_dn(GROUPS): GROUPS}
        self.entries: dict[str, Entry] = {}
        self.groups: dict[str, Group] = {}

    # -- reading, as a connector would
    def read(self, person_id: str) -> Account | None:
        found = [e for e in self.entries.values() if e.get("idhubPersonId") == (person_id,)]
        if not found:
            return None
        (entry,) = found
        me = normalize_dn(entry.dn)
        groups = frozenset(g.dn for g in self.groups.values() if me in norm(g.members))
        return Account(AccountKey(person_id), entry.dn, dict(entry.attributes), groups)

    def existing_containers(self) -> set[str]:
        return set(self.containers)

    def managed_groups(self) -> set[str]:
        return {n for n, g in self.groups.items() if g.managed}

    # -- writing, as slapd would
    def _parent_exists(self, dn: str) -> None:
        parent = normalize_dn(parent_dn(dn))
        if parent != normalize_dn(BASE) and parent not in self.containers:
            raise Refused(f"no parent for {dn}")

    def _entry(self, op: Operation) -> Entry:
        if op.current is None or normalize_dn(op.current) not in self.entries:
            raise Refused(f"{op.kind}: no entry at {op.current}")
        return self.entries[normalize_dn(op.current)]

    def _check_rdn(self, entry: Entry) -> None:
        for attr, value, _ in split_dn(entry.dn)[0]:
            if not any(v.casefold() == value.casefold() for v in entry.get(attr)):
                raise Refused(f"naming attribute {attr} lost its RDN value in {entry.dn}")

    def apply(self, ops: Sequence[Operation]) -> None:
        for op in ops:
            getattr(self, f"_{op.kind.value}")(op)

    def _ensure_container(self, op: Operation) -> None:
        assert op.name is not None
        if normalize_dn(op.name) in self.containers:
            raise Refused(f"container {op.name} exists already")
        self._parent_exists(op.name)
        self.containers[normalize_dn(op.name)] = op.name

    def _create(self, op: Operation) -> None:
        assert op.name is not None
        if normalize_dn(op.name) in self.entries:
            raise Refused(f"{op.name} exists already")
        self._parent_exists(op.name)
        entry = Entry(op.name, dict(op.attributes))
        self._check_rdn(entry)
        self.entries[normalize_dn(op.name)] = entry

    def _modify(self, op: Operation) -> None:
        entry = self._entry(op)
        for name, values in op.attributes.items():
            entry.put(name, values)
        self._check_rdn(entry)

    def _modrdn(self, op: Operation) -> None:
        entry = self._entry(op)
        assert op.name is not None
        old, new = entry.dn, op.name
        if normalize_dn(new) in self.entries:
            raise Refused(f"{new} exists already")
        self._parent_exists(new)
        for attr, value, _ in split_dn(old)[0]:  # deleteoldrdn
            entry.put(attr, tuple(v for v in entry.get(attr) if v.casefold() != value.casefold()))
        for attr, value, _ in split_dn(new)[0]:
            if not any(v.casefold() == value.casefold() for v in entry.get(attr)):
                entry.put(attr, (*entry.get(attr), value))
        del self.entries[normalize_dn(old)]
        entry.dn = new
        self.entries[normalize_dn(new)] = entry
        if self.refint:
            for g in self.groups.values():
                g.members = [new if same_dn(m, old) else m for m in g.members]

    def _move(self, op: Operation) -> None:
        self._modrdn(op)

    def _rename(self, op: Operation) -> None:
        assert op.name is not None and op.current is not None
        if not same_dn(parent_dn(op.name), parent_dn(op.current)):
            raise Refused("rename must keep the parent")
        self._modrdn(op)

    def _status(self, op: Operation, value: str) -> None:
        entry = self._entry(op)
        if [v.casefold() for v in entry.get("idhubAccountStatus")] == [value]:
            raise Refused(f"{op.kind}: already {value}")
        entry.put("idhubAccountStatus", (value,))

    def _disable(self, op: Operation) -> None:
        self._status(op, "disabled")

    def _enable(self, op: Operation) -> None:
        self._status(op, "active")

    def _delete(self, op: Operation) -> None:
        entry = self._entry(op)
        del self.entries[normalize_dn(entry.dn)]
        if self.refint:
            for g in self.groups.values():
                g.members = [m for m in g.members if not same_dn(m, entry.dn)]

    def _add_member(self, op: Operation) -> None:
        assert op.group is not None and op.current is not None
        self._entry(op)  # the member exists now
        g = self.groups.setdefault(normalize_dn(op.group), Group(op.group, managed=True))
        if normalize_dn(op.current) in norm(g.members):
            raise Refused(f"{op.current} is already a member of {op.group}")
        g.members.append(op.current)

    def _remove_member(self, op: Operation) -> None:
        assert op.group is not None and op.current is not None
        g = self.groups.get(normalize_dn(op.group))
        if g is None or not g.managed:
            raise Refused(f"touched a group the hub does not manage: {op.group}")
        kept = [m for m in g.members if not same_dn(m, op.current)]
        if len(kept) == len(g.members):
            raise Refused(f"{op.current} is not a member of {op.group}")
        g.members = kept


def converge(directory: Directory, d: DesiredAccount) -> list[Operation]:
    return plan(
        d,
        directory.read(d.person_id),
        existing_containers=directory.existing_containers(),
        managed_groups=directory.managed_groups(),
        members_follow_moves=directory.refint,
    )


# =========================================================================== properties


@settings(max_examples=300, deadline=None)
@given(p=persons(), rules=rule_sets, extra=st.sets(st.sampled_from([FANS, group("x")])))
def test_plan_against_what_policy_wants_is_empty(
    p: PersonSnapshot, rules: Rules, extra: set[str]
) -> None:
    d = desired(p, rules)
    if d.state is AccountState.ABSENT:
        assert plan(d, None, existing_containers=set(), managed_groups=set()) == []
        return
    actual = account_from(d, groups=d.groups | extra)  # plus groups the hub does not manage
    managed = norm(d.groups) | {normalize_dn(group("not-held"))}
    assert plan(d, actual, existing_containers=set(), managed_groups=managed) == []


drift_actions = st.sampled_from(
    ["cn", "mail", "phone", "status", "lower-names", "fans", "stale", "upper-dn", "uid-extra"]
)


def drift(directory: Directory, person_id: str, actions: set[str]) -> None:
    """Hand edits in the directory: what reconciliation must repair (or leave alone)."""
    account = directory.read(person_id)
    if account is None:
        return
    entry = directory.entries[normalize_dn(account.name)]
    if "cn" in actions:
        entry.put("cn", ("Edited By Hand",))
    if "mail" in actions:
        entry.put("mail", ())
    if "phone" in actions:
        entry.put("telephoneNumber", ("+84 213 3876 543",))
    if "status" in actions:
        now = entry.get("idhubAccountStatus")
        entry.put("idhubAccountStatus", ("Disabled",) if now == ("active",) else ("active",))
    if "lower-names" in actions:
        entry.attributes = {k.lower(): v for k, v in entry.attributes.items()}
    if "uid-extra" in actions:
        entry.put("uid", (*entry.get("uid"), "alias"))
    if "fans" in actions:
        directory.groups.setdefault(normalize_dn(FANS), Group(FANS, managed=False))
        directory.groups[normalize_dn(FANS)].members.append(entry.dn)
    if "stale" in actions:
        stale = group("old-role")
        directory.groups.setdefault(normalize_dn(stale), Group(stale, managed=True))
        directory.groups[normalize_dn(stale)].members.append(entry.dn)
    if "upper-dn" in actions:
        old = entry.dn
        del directory.entries[normalize_dn(old)]
        entry.dn = old.upper()
        directory.entries[normalize_dn(entry.dn)] = entry
        for g in directory.groups.values():
            g.members = [entry.dn if same_dn(m, old) else m for m in g.members]


@settings(max_examples=400, deadline=None)
@given(
    before=persons(),
    after=persons(),
    rules=rule_sets,
    actions=st.sets(drift_actions),
    refint=st.booleans(),
)
def test_one_plan_converges(
    before: PersonSnapshot, after: PersonSnapshot, rules: Rules, actions: set[str], refint: bool
) -> None:
    directory = Directory(refint=refint)
    first = desired(before, rules)
    directory.apply(converge(directory, first))
    assert converge(directory, first) == []
    drift(directory, first.person_id, actions)
    drifted = directory.read(first.person_id)
    had_fans = drifted is not None and normalize_dn(FANS) in norm(drifted.groups or ())

    target = desired(after, rules)
    ops = converge(directory, target)
    for kind in sorted({op.kind for op in ops}):
        event(f"plan has {kind}")
    directory.apply(ops)
    assert converge(directory, target) == [], ops

    account = directory.read(target.person_id)
    if target.state is AccountState.ABSENT:
        assert account is None
        return
    assert account is not None and same_dn(account.name, target.name)
    for name, values in target.attributes.items():
        if name != "objectClass":
            assert {v.casefold() for v in account.get(name)} == {v.casefold() for v in values}
    assert account.get("telephoneNumber") == (
        ("+84 213 3876 543",) if "phone" in actions and drifted else ()
    )
    groups = norm(account.groups or ())
    assert groups & directory.managed_groups() == norm(target.groups)
    if had_fans and drifted and (refint or same_dn(drifted.name, target.name)):
        assert normalize_dn(FANS) in groups  # never touched


def test_simulator_refuses_what_slapd_refuses() -> None:
    directory = Directory(refint=False)
    with pytest.raises(Refused, match="no parent"):
        directory.apply([Operation(OpKind.CREATE, KEY, name=STAFF.name,
                                   attributes={"uid": ("annv",)})])  # fmt: skip
    directory.apply(run(STAFF, None))
    with pytest.raises(Refused, match="lost its RDN value"):
        directory.apply(
            [Operation(OpKind.MODIFY, KEY, attributes={"uid": ("x",)}, current=STAFF.name)]
        )
    with pytest.raises(Refused, match="does not manage"):
        directory.apply([Operation(OpKind.REMOVE_MEMBER, KEY, group=FANS, current=STAFF.name)])


@pytest.mark.parametrize("refint", [False, True])
def test_mover_converges_with_and_without_refint(refint: bool) -> None:
    directory = Directory(refint=refint)
    directory.apply(converge(directory, STAFF))
    after = desired(person(post(TCCB, end=TODAY - days(1)), post(QLNS, start=TODAY),
                           post(COMMUNE, "CNTT", kind=PostKind.CONCURRENT)))  # fmt: skip
    ops = converge(directory, after)
    directory.apply(ops)
    assert converge(directory, after) == []
    account = directory.read(PID)
    assert account is not None and account.name == after.name
    assert norm(account.groups or ()) == norm(after.groups)
    # no group still lists the old DN among the managed ones
    for g in directory.groups.values():
        assert normalize_dn(STAFF.name) not in norm(g.members)
