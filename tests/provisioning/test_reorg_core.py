"""The pure reorganisation core: checks and effects of merge, split, move, dissolve, rename."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from provisioning.reorg import (
    Dissolve,
    Merge,
    Move,
    NewUnit,
    Post,
    Rename,
    Split,
    Unit,
    work_out,
)

E = dt.date(2025, 7, 1)
BEFORE = dt.date(2020, 1, 1)

# Province 12 with two districts (old two-level tree), communes under them.
UNITS = [
    Unit("p", "12", "Ủy ban nhân dân tỉnh Lai Châu", "province_committee", None),
    Unit("d1", "105", "Ủy ban nhân dân huyện Tam Đường", "district_committee", "p"),
    Unit("d2", "106", "Ủy ban nhân dân huyện Phong Thổ", "district_committee", "p"),
    Unit("a", "3460", "Ủy ban nhân dân xã Bình Lư", "commune_committee", "d1"),
    Unit("b", "3461", "Ủy ban nhân dân xã Nà Tăm", "commune_committee", "d1"),
    Unit("c", "3462", "Ủy ban nhân dân xã Bản Bo", "commune_committee", "d2"),
    Unit("a1", "3460.VP", "Văn phòng HĐND-UBND xã Bình Lư", "other", "a"),
    Unit("old", "999", "Đơn vị đã giải thể", "other", "p", active=False),
    Unit("fresh", "777", "Đơn vị mới thành lập", "other", "p", valid_from=E),
]


def post(pid, unit, person=None, position="CV", kind="primary", start=BEFORE, end=None):
    return Post(pid, person or f"person-{pid}", unit, position, kind, start, end)


def ids():
    counter = itertools.count(1)
    return lambda: f"new{next(counter)}"


def codes(effect):
    return sorted(p.code for p in effect.problems)


def test_merge_into_a_new_unit_moves_posts_sub_units_and_keeps_lineage():
    posts = [
        post("1", "a"),
        post("2", "b"),
        post("3", "c"),
        post("4", "a", end=dt.date(2024, 1, 1)),
    ]
    new = NewUnit("3470", "Ủy ban nhân dân xã Bình Lư", "commune_committee", parent="12")
    effect = work_out([Merge(("3460", "b"), new)], UNITS, posts, E, ids())
    assert effect.ok, effect.problems
    assert effect.new_units == {"new1": (new, "p")}
    assert effect.retired == {"a": "merged", "b": "merged"}
    assert {(u, s, k) for u, s, k, _ in effect.lineage} == {
        ("a", "new1", "merged_into"),
        ("b", "new1", "merged_into"),
    }
    assert {(m.post.id, m.to_unit) for m in effect.post_moves} == {("1", "new1"), ("2", "new1")}
    assert effect.parents == {"a1": "new1"}  # the sub-unit follows its unit
    assert effect.people == {"person-1", "person-2"}


def test_split_by_list_and_default_and_its_problems():
    posts = [post("1", "a", person="x"), post("2", "a", person="y"), post("3", "a", person="z")]
    op = Split("a", ("b", "c"), people={"x": "c"}, default="b", units={"3460.VP": "c"})
    effect = work_out([op], UNITS, posts, E, ids())
    assert effect.ok, effect.problems
    assert {(m.post.person_id, m.to_unit) for m in effect.post_moves} == {
        ("x", "c"),
        ("y", "b"),
        ("z", "b"),
    }
    assert effect.parents == {"a1": "c"}
    assert {k for _, _, k, _ in effect.lineage} == {"split_into"}

    no_default = work_out([Split("a", ("b", "c"), people={"x": "c"})], UNITS, posts, E, ids())
    assert codes(no_default).count("person_without_unit") == 2
    assert "sub_unit_without_parent" in codes(no_default)
    stranger = work_out(
        [Split("a", ("b", "c"), people={"nobody": "b", "x": "zzz"}, default="b")],
        UNITS,
        posts,
        E,
        ids(),
    )
    assert codes(stranger) == ["person_not_in_unit", "unknown_part"]


def test_move_dissolve_and_rename():
    posts = [post("1", "d1"), post("2", "d1", start=dt.date(2025, 8, 1))]
    ops = [
        Move("3460", "12"),
        Move("3461", "12"),
        Dissolve("105", "12"),
        Rename("3462", name="Ủy ban nhân dân xã Bản Bo mới", mail_domain="banbo.laichau.gov.vn"),
    ]
    effect = work_out(ops, UNITS, posts, E, ids())
    assert effect.ok, effect.problems
    assert effect.parents == {"a": "p", "b": "p"}
    assert effect.retired == {"d1": "dissolved"}
    moves = {m.post.id: m for m in effect.post_moves}
    assert moves["1"].to_unit == "p" and not moves["1"].in_place
    assert moves["2"].in_place  # starts after the effective date: re-pointed
    assert effect.renames["c"].mail_domain == "banbo.laichau.gov.vn"


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([Merge(("nowhere",), "b")], ["unknown_unit"]),
        ([Merge(("999",), "b")], ["unknown_unit"]),  # inactive units have no code to use
        ([Merge(("old",), "b")], ["unit_inactive"]),
        ([Merge(("a",), "a")], ["invalid_operation"]),
        ([Merge(("a",), "b"), Dissolve("a", "c")], ["unit_in_two_operations"]),
        ([Merge(("a",), "b"), Dissolve("b", "c")], ["target_retired"]),
        ([Move("105", "3460")], ["unit_cycle"]),  # a district under its own commune
        ([Move("a", "b"), Move("b", "a")], ["unit_cycle"]),
        ([Merge(("a", "b"), NewUnit("3462", "X", "commune_committee"))], ["duplicate_unit_code"]),
        ([Rename("a", code="3461")], ["duplicate_unit_code"]),
        ([Split("a", ("b",), default="b")], ["invalid_operation"]),
        ([], ["empty"]),
        ([Dissolve("fresh", "12")], ["unit_not_yet_valid"]),  # it starts on the effective date
    ],
)
def test_problems_are_found_and_named(ops, expected):
    effect = work_out(ops, UNITS, [post("1", "a")], E, ids())
    assert codes(effect) == expected, effect.problems
    assert not effect.ok


def test_move_and_rename_of_one_unit_go_together_and_codes_can_be_reused_after_retiring():
    effect = work_out([Move("a", "12"), Rename("a", code="A-NEW")], UNITS, [], E, ids())
    assert effect.ok, effect.problems
    # Three communes become one new commune with the code of one of them.
    reuse = work_out(
        [Merge(("3460", "3461"), NewUnit("3460", "Xã Bình Lư", "commune_committee", parent="12"))],
        UNITS,
        [],
        E,
        ids(),
    )
    assert reuse.ok, reuse.problems


def test_a_person_holding_the_same_post_twice_after_a_merge_keeps_one():
    posts = [
        post("1", "a", person="x", kind="concurrent"),
        post("2", "b", person="x", kind="primary"),
        post("3", "c", person="x", position="KT"),
    ]
    effect = work_out([Merge(("a", "b"), "c")], UNITS, posts, E, ids())
    assert effect.ok
    moves = {m.post.id: m.to_unit for m in effect.post_moves}
    assert moves == {"1": None, "2": "c"}  # the primary one moves, the concurrent one ends
