"""A scope: the units an actor may administer (a union of subtrees), or the whole province.

`Scope.units` is the precomputed set of every unit in the subtrees (one recursive query
per request), so a check is a set lookup and a list filter one `IN` over the set.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.errors import DomainError
from idhub.models import OrgUnit


class OutsideScope(DomainError):
    """A write that would reach or place someone outside the actor's administrative scope."""

    status = 403
    code = "outside_admin_scope"


def outside(what: str) -> OutsideScope:
    return OutsideScope(
        f"Ngoài phạm vi quản trị của bạn: {what}. / Outside your administrative scope: {what}.",
    )


@dataclass(frozen=True)
class Scope:
    """`units` None: the whole province. Otherwise every unit the actor administers
    (`roots` and all units below them); an empty set: none."""

    units: frozenset[uuid.UUID] | None = None
    roots: tuple[uuid.UUID, ...] = ()

    @property
    def everywhere(self) -> bool:
        return self.units is None

    @property
    def home(self) -> uuid.UUID | None:
        """The unit a record made by this actor belongs to (the first root; None: province)."""
        return self.roots[0] if self.roots and not self.everywhere else None

    def covers(self, unit_id: uuid.UUID | None) -> bool:
        if self.units is None:
            return True
        return unit_id is not None and unit_id in self.units

    def require(self, unit_id: uuid.UUID | None, what: str) -> None:
        if not self.covers(unit_id):
            raise outside(what)

    def require_everywhere(self, what: str) -> None:
        """Operations only a province-wide administrator does (the catalogue, applying a
        reorganisation, the mass-change guard, reconciles)."""
        if self.units is not None:
            raise OutsideScope(
                f"Chỉ quản trị viên cấp tỉnh: {what}. / Only a province-wide administrator "
                f"may: {what}.",
                code="province_admin_required",
            )


EVERYWHERE = Scope()
NOWHERE = Scope(frozenset())


def subtrees(session: Session, roots: Iterable[uuid.UUID]) -> frozenset[uuid.UUID]:
    """Every unit in the subtrees of `roots` (the roots included), by one recursive query."""
    roots = list(dict.fromkeys(roots))
    if not roots:
        return frozenset()
    tree = select(OrgUnit.id).where(OrgUnit.id.in_(roots)).cte("tree", recursive=True)
    tree = tree.union(select(OrgUnit.id).where(OrgUnit.parent_id == tree.c.id))
    return frozenset(session.scalars(select(tree.c.id)))


def scope_of(session: Session, roots: Iterable[uuid.UUID | None]) -> Scope:
    """The scope of these subtree roots; a None among them is the whole province."""
    roots = list(roots)
    if any(root is None for root in roots):
        return EVERYWHERE
    ids = [root for root in roots if root is not None]
    return Scope(subtrees(session, ids), tuple(dict.fromkeys(ids)))
