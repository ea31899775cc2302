"""Reorganisation as data: a change set's unit operations → every problem, or the effect.

A change set (merge, split, move, dissolve, rename) is checked and worked out here, as a
pure function of the org tree and the posts held on the effective date. The result says
which units are created, retired (with their lineage), re-parented and renamed, and where
every post goes. The shell writes that in one transaction; the preview writes it in a
transaction it rolls back, then runs the usual converge computation on it. Nothing here
touches a database, Flask or the network.

Unit references are strings: a unit id, or the code of an active unit; a unit created
earlier in the same change set is referred to by its new code.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "Dissolve",
    "Effect",
    "Merge",
    "Move",
    "NewUnit",
    "Post",
    "PostMove",
    "Problem",
    "Rename",
    "Split",
    "Unit",
    "work_out",
]

MERGED, SPLIT, DISSOLVED = "merged", "split", "dissolved"
MERGED_INTO, SPLIT_INTO, SUCCEEDED_BY = "merged_into", "split_into", "succeeded_by"


@dataclass(frozen=True, slots=True)
class Unit:
    """An org unit as a change set reads it."""

    id: str
    code: str
    name: str
    type: str
    parent_id: str | None
    active: bool = True
    mail_domain: str | None = None
    valid_from: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Post:
    """An assignment not yet over on the effective date (end inclusive, None = open)."""

    id: str
    person_id: str
    unit_id: str
    position_id: str
    kind: str  # "primary" | "concurrent"
    start: dt.date
    end: dt.date | None = None


@dataclass(frozen=True, slots=True)
class NewUnit:
    """A unit the change set creates (the result of a merge or a split)."""

    code: str
    name: str
    type: str
    parent: str | None = None  # a unit reference; None: the parent of the (first) source
    mail_domain: str | None = None
    short_name: str | None = None


@dataclass(frozen=True, slots=True)
class Merge:
    sources: tuple[str, ...]
    into: str | NewUnit


@dataclass(frozen=True, slots=True)
class Split:
    """`people` (person id → one of `into`) and `default` say who goes where; `units`
    (sub-unit reference → one of `into`) where the sub-units go, else `default`."""

    source: str
    into: tuple[str | NewUnit, ...]
    people: Mapping[str, str] = field(default_factory=dict)
    units: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None


@dataclass(frozen=True, slots=True)
class Move:
    unit: str
    parent: str


@dataclass(frozen=True, slots=True)
class Dissolve:
    unit: str
    successor: str


@dataclass(frozen=True, slots=True)
class Rename:
    """New name / code / mail domain. People's old addresses stay aliases for the period
    the rules give ([mail] old_address_days): the mail policy keeps every superseded one."""

    unit: str
    name: str | None = None
    code: str | None = None
    short_name: str | None = None
    mail_domain: str | None = None


Operation = Merge | Split | Move | Dissolve | Rename


@dataclass(frozen=True, slots=True)
class Problem:
    operation: int | None  # index in the change set; None: the change set as a whole
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class PostMove:
    """Where one post goes. `to_unit` None: the person already holds that position in the
    target unit, so this post just ends. `in_place`: the post starts on or after the
    effective date, so it is re-pointed instead of ended and started again."""

    post: Post
    to_unit: str | None
    operation: int
    in_place: bool


@dataclass
class Effect:
    effective: dt.date
    new_units: dict[str, tuple[NewUnit, str | None]] = field(
        default_factory=dict
    )  # id → (spec, parent id)
    retired: dict[str, str] = field(default_factory=dict)  # unit id → merged | split | dissolved
    lineage: list[tuple[str, str, str, int]] = field(
        default_factory=list
    )  # (unit, successor, kind, op)
    parents: dict[str, str | None] = field(default_factory=dict)  # unit id → new parent id
    renames: dict[str, Rename] = field(default_factory=dict)  # unit id → what changes
    post_moves: list[PostMove] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def people(self) -> set[str]:
        return {m.post.person_id for m in self.post_moves}

    @property
    def units(self) -> set[str]:
        """Every unit whose data or place changes (not yet their subtrees)."""
        return {*self.new_units, *self.retired, *self.parents, *self.renames}


def work_out(
    operations: Sequence[Operation],
    units: Iterable[Unit],
    posts: Iterable[Post],
    effective: dt.date,
    new_id: Callable[[], str],
) -> Effect:
    """Check the change set against the tree and work out its effect (see the module doc).

    `posts` are the assignments not over before `effective` (the shell selects them);
    `new_id` names the units the change set creates. Every problem is reported, each with
    the index of its operation; the effect is only meaningful when there are none.
    """
    return _Working(operations, units, posts, effective, new_id).run()


def _everyone_to(unit_id: str) -> Callable[[Post], str | None]:
    return lambda _post: unit_id


class _Working:
    def __init__(
        self,
        operations: Sequence[Operation],
        units: Iterable[Unit],
        posts: Iterable[Post],
        effective: dt.date,
        new_id: Callable[[], str],
    ) -> None:
        self.ops = operations
        self.units = {u.id: u for u in units}
        self.codes = {u.code: u.id for u in self.units.values() if u.active}
        self.children: dict[str, list[str]] = defaultdict(list)
        for u in self.units.values():
            if u.parent_id and u.active:
                self.children[u.parent_id].append(u.id)
        self.posts_in: dict[str, list[Post]] = defaultdict(list)
        for post in posts:
            if post.end is None or post.end >= effective:
                self.posts_in[post.unit_id].append(post)
        self.new_id = new_id
        self.effect = Effect(effective)
        self.subject_of: dict[tuple[str, str], int] = {}  # (unit id, aspect) → operation
        self.retired_by: dict[str, int] = {}
        self.successors: dict[str, str | None] = {}  # retired unit → where its sub-units go
        self.placed_by: dict[str, int] = {}  # re-parented unit → the operation that did it

    # -- helpers -------------------------------------------------------------------------
    def problem(self, index: int | None, code: str, message: str) -> None:
        self.effect.problems.append(Problem(index, code, message))

    def resolve(self, ref: str, index: int, what: str) -> str | None:
        """A reference → unit id (new units by their code once created), or a problem."""
        if ref in self.units:
            unit = self.units[ref]
            if not unit.active:
                self.problem(index, "unit_inactive", f"{what} {unit.code} is no longer active.")
                return None
            return ref
        if ref in self.codes:
            return self.codes[ref]
        self.problem(index, "unknown_unit", f"{what} {ref!r}: no active unit has this id or code.")
        return None

    def label(self, unit_id: str) -> str:
        if unit_id in self.effect.new_units:
            return self.effect.new_units[unit_id][0].code
        return self.units[unit_id].code

    def claim(self, unit_id: str, index: int, aspect: str = "subject") -> bool:
        """A unit is the subject of one operation; only a move ("place") and a rename
        ("name") may go together."""
        clash = [
            other
            for (unit, claimed), other in self.subject_of.items()
            if unit == unit_id and (claimed == aspect or "subject" in (claimed, aspect))
        ]
        if clash:
            self.problem(
                index,
                "unit_in_two_operations",
                f"{self.label(unit_id)} is already changed by operation {clash[0]}.",
            )
            return False
        self.subject_of[(unit_id, aspect)] = index
        return True

    def target(
        self,
        ref: str | NewUnit,
        index: int,
        parent_hint: str | None,
        retiring: Iterable[str] = (),
    ) -> str | None:
        """The unit people go to: an existing one, or one this operation creates (which
        may take the code of a unit the operation retires)."""
        if isinstance(ref, NewUnit):
            return self.create(ref, index, parent_hint, set(retiring))
        unit_id = self.resolve(ref, index, "target")
        if unit_id is not None and unit_id in self.retired_by:
            self.problem(
                index,
                "target_retired",
                f"target {self.label(unit_id)} is retired by operation {self.retired_by[unit_id]}.",
            )
            return None
        return unit_id

    def create(
        self, spec: NewUnit, index: int, parent_hint: str | None, retiring: set[str]
    ) -> str | None:
        code, name = spec.code.strip(), spec.name.strip()
        if not code or not name:
            self.problem(index, "invalid_unit", "a new unit needs a code and a name.")
            return None
        taken = self.codes.get(code)
        if taken is not None and taken not in self.retired_by and taken not in retiring:
            self.problem(
                index, "duplicate_unit_code", f"an active unit already has the code {code!r}."
            )
            return None
        parent = parent_hint
        if spec.parent is not None:
            parent = self.resolve(spec.parent, index, "parent")
            if parent is None:
                return None
        unit_id = self.new_id()
        self.effect.new_units[unit_id] = (spec, parent)
        self.codes[code] = unit_id  # later operations refer to it by its code
        return unit_id

    def place(self, unit_id: str, parent: str, index: int) -> None:
        self.effect.parents[unit_id] = parent
        self.placed_by[unit_id] = index

    def retire(self, unit_id: str, status: str, index: int) -> None:
        since = self.units[unit_id].valid_from
        if since is not None and since >= self.effect.effective:
            self.problem(
                index,
                "unit_not_yet_valid",
                f"{self.label(unit_id)} exists only from {since.isoformat()}; it cannot end "
                f"before the effective date {self.effect.effective.isoformat()}.",
            )
        self.effect.retired[unit_id] = status
        self.retired_by[unit_id] = index

    def move_posts(self, source: str, index: int, where: Callable[[Post], str | None]) -> None:
        for post in self.posts_in.get(source, ()):
            to_unit = where(post)
            if to_unit is None:
                continue  # reported by `where`
            self.effect.post_moves.append(
                PostMove(post, to_unit, index, in_place=post.start >= self.effect.effective)
            )

    # -- operations ----------------------------------------------------------------------
    def run(self) -> Effect:
        if not self.ops:
            self.problem(None, "empty", "The change set has no operations.")
        for index, op in enumerate(self.ops):
            if isinstance(op, Merge):
                self.merge(index, op)
            elif isinstance(op, Split):
                self.split(index, op)
            elif isinstance(op, Move):
                self.move(index, op)
            elif isinstance(op, Dissolve):
                self.dissolve(index, op)
            else:
                self.rename(index, op)
        self.adopt_orphans()
        self.check_retired_targets()
        self.check_cycles()
        self.dedupe_posts()
        return self.effect

    def merge(self, index: int, op: Merge) -> None:
        if not op.sources:
            self.problem(index, "invalid_operation", "a merge needs at least one source unit.")
            return
        sources = [self.resolve(ref, index, "source") for ref in op.sources]
        if any(s is None for s in sources):
            return
        resolved = [s for s in sources if s is not None]
        if len(set(resolved)) != len(resolved):
            self.problem(index, "invalid_operation", "a source unit is named twice.")
            return
        if not all(self.claim(s, index) for s in resolved):
            return
        into = self.target(op.into, index, self.units[resolved[0]].parent_id, resolved)
        if into is None:
            return
        if into in resolved:
            self.problem(index, "invalid_operation", "a unit cannot be merged into itself.")
            return
        for source in resolved:
            self.retire(source, MERGED, index)
            self.successors[source] = into
            self.effect.lineage.append((source, into, MERGED_INTO, index))
            self.move_posts(source, index, _everyone_to(into))

    def split(self, index: int, op: Split) -> None:
        source = self.resolve(op.source, index, "source")
        if source is None or not self.claim(source, index):
            return
        if len(op.into) < 2:
            self.problem(index, "invalid_operation", "a split needs at least two parts.")
            return
        parts: dict[str, str] = {}  # reference (as written, and code) → unit id
        parent = self.units[source].parent_id
        for ref in op.into:
            unit_id = self.target(ref, index, parent, [source])
            if unit_id is None:
                return
            if unit_id == source:
                self.problem(index, "invalid_operation", "a unit cannot be split into itself.")
                return
            parts[ref.code if isinstance(ref, NewUnit) else ref] = unit_id
            parts[unit_id] = unit_id
            parts[self.label(unit_id)] = unit_id

        def part(ref: str, what: str) -> str | None:
            if ref not in parts:
                self.problem(index, "unknown_part", f"{what}: {ref!r} is not one of the parts.")
                return None
            return parts[ref]

        default = part(op.default, "default") if op.default is not None else None
        holders = {p.person_id for p in self.posts_in.get(source, ())}
        for person in op.people:
            if person not in holders:
                self.problem(
                    index,
                    "person_not_in_unit",
                    f"person {person} holds no post in {self.label(source)} on the effective date.",
                )
        people = {person: part(ref, f"person {person}") for person, ref in op.people.items()}

        def where(post: Post) -> str | None:
            if post.person_id in people:
                return people[post.person_id]
            if default is None:
                self.problem(
                    index,
                    "person_without_unit",
                    f"person {post.person_id} in {self.label(source)} is given no part "
                    "(list them, or give a default).",
                )
            return default

        self.retire(source, SPLIT, index)
        self.successors[source] = default
        for unit_id in dict.fromkeys(parts.values()):
            self.effect.lineage.append((source, unit_id, SPLIT_INTO, index))
        for child_ref, ref in op.units.items():
            child = self.resolve(child_ref, index, "sub-unit")
            target = part(ref, f"sub-unit {child_ref}")
            if child is None or target is None:
                continue
            if self.units[child].parent_id != source:
                self.problem(
                    index, "not_a_sub_unit", f"{child_ref} is not a sub-unit of {op.source}."
                )
                continue
            if child not in self.effect.parents:
                self.place(child, target, index)
        self.move_posts(source, index, where)

    def move(self, index: int, op: Move) -> None:
        unit = self.resolve(op.unit, index, "unit")
        parent = self.target(op.parent, index, None)
        if unit is None or parent is None or not self.claim(unit, index, "place"):
            return
        if unit == parent:
            self.problem(index, "unit_cycle", "a unit cannot be moved under itself.")
            return
        self.place(unit, parent, index)

    def dissolve(self, index: int, op: Dissolve) -> None:
        unit = self.resolve(op.unit, index, "unit")
        if unit is None or not self.claim(unit, index):
            return
        successor = self.target(op.successor, index, None)
        if successor is None:
            return
        if successor == unit:
            self.problem(index, "invalid_operation", "a unit cannot succeed itself.")
            return
        self.retire(unit, DISSOLVED, index)
        self.successors[unit] = successor
        self.effect.lineage.append((unit, successor, SUCCEEDED_BY, index))
        self.move_posts(unit, index, _everyone_to(successor))

    def rename(self, index: int, op: Rename) -> None:
        unit = self.resolve(op.unit, index, "unit")
        if unit is None or not self.claim(unit, index, "name"):
            return
        if op.name is None and op.code is None and op.mail_domain is None and op.short_name is None:
            self.problem(index, "invalid_operation", "a rename changes nothing.")
            return
        if op.name is not None and not op.name.strip():
            self.problem(index, "invalid_operation", "the new name is empty.")
            return
        if op.code is not None:
            taken = self.codes.get(op.code)
            if not op.code.strip() or (
                taken is not None and taken != unit and taken not in self.retired_by
            ):
                self.problem(
                    index,
                    "duplicate_unit_code",
                    f"an active unit already has the code {op.code!r}.",
                )
                return
            self.codes[op.code] = unit
        self.effect.renames[unit] = op

    # -- the change set as a whole ---------------------------------------------------------
    def adopt_orphans(self) -> None:
        """Sub-units of a retired unit go where its people go, unless placed otherwise."""
        for unit_id in list(self.effect.retired):
            index = self.retired_by[unit_id]
            for child in self.children.get(unit_id, ()):
                if child in self.effect.retired or child in self.effect.parents:
                    continue
                successor = self.successors.get(unit_id)
                if successor is None:
                    self.problem(
                        index,
                        "sub_unit_without_parent",
                        f"sub-unit {self.label(child)} of {self.label(unit_id)} is given no "
                        "parent (list it under `units`, or give a default).",
                    )
                    continue
                self.place(child, successor, index)

    def check_retired_targets(self) -> None:
        """Nothing may go to a unit that a later operation retires."""
        seen: set[tuple[int, str]] = set()
        arrivals = [(m.operation, m.to_unit) for m in self.effect.post_moves]
        arrivals += [(op, successor) for _, successor, _, op in self.effect.lineage]
        arrivals += [
            (self.placed_by[child], parent)
            for child, parent in self.effect.parents.items()
            if child not in self.effect.retired
        ]
        arrivals += [
            (self.subject_of.get((uid, "subject"), -1), parent)
            for uid, (_, parent) in self.effect.new_units.items()
        ]
        for index, unit_id in arrivals:
            if unit_id in self.effect.retired and (index, unit_id) not in seen:
                seen.add((index, unit_id))
                self.problem(
                    index if index >= 0 else None,
                    "target_retired",
                    f"{self.label(unit_id)} receives people or units but is retired by "
                    f"operation {self.retired_by[unit_id]}.",
                )

    def parent_after(self, unit_id: str) -> str | None:
        if unit_id in self.effect.parents:
            return self.effect.parents[unit_id]
        if unit_id in self.effect.new_units:
            return self.effect.new_units[unit_id][1]
        return self.units[unit_id].parent_id

    def check_cycles(self) -> None:
        reported: set[str] = set()
        for start in self.effect.parents:
            seen: list[str] = []
            current: str | None = start
            while current is not None and current not in seen:
                seen.append(current)
                current = self.parent_after(current)
            if current is not None and current not in reported:
                loop = seen[seen.index(current) :]
                reported.update(loop)
                self.problem(
                    self.placed_by.get(start),
                    "unit_cycle",
                    "these units would be each other's parents: "
                    + " → ".join(self.label(u) for u in [*loop, current]),
                )

    def dedupe_posts(self) -> None:
        """One post per person, unit and position: a second one only ends."""
        held: set[tuple[str, str, str]] = set()
        moving = {m.post.id for m in self.effect.post_moves}
        for unit_posts in self.posts_in.values():
            for post in unit_posts:
                if post.id not in moving and post.unit_id not in self.effect.retired:
                    held.add((post.person_id, post.unit_id, post.position_id))
        moves = sorted(self.effect.post_moves, key=lambda m: (m.post.kind != "primary", m.post.id))
        deduped: dict[str, PostMove] = {}
        for move in moves:
            assert move.to_unit is not None
            key = (move.post.person_id, move.to_unit, move.post.position_id)
            if key in held:
                deduped[move.post.id] = PostMove(move.post, None, move.operation, move.in_place)
            else:
                held.add(key)
                deduped[move.post.id] = move
        self.effect.post_moves = [deduped[m.post.id] for m in self.effect.post_moves]
