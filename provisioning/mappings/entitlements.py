"""Entitlements mapping: roles, groups, application roles and the quota class.

Enabled accounts only (a disabled account has no role and no group): default_roles + for
every active post (primary and concurrent alike) the roles of its position code, of every
leadership threshold its level reaches, and of its unit's type. Groups are the roles'
groups plus, with ``unit_groups``, ``unit-<code>`` for every unit holding an active post.
The quota class is the largest one among the roles (the mail mapping turns it into bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from provisioning.attributes import nfc
from provisioning.containers import group_dn
from provisioning.mappings.lifecycle import Lifecycle, describe_post
from provisioning.model import AccountState, PostSnapshot, UnitSnapshot
from provisioning.rules import Rules

__all__ = ["NONE", "RANGE", "Entitlements", "entitlements", "unit_group_name"]

# Fields of DesiredAccount; no attribute.
RANGE = ("roles", "groups", "app_roles", "quota_class", "unit_app_roles")


class Entitlements(NamedTuple):
    roles: tuple[str, ...]
    groups: frozenset[str]  # DNs
    app_roles: tuple[str, ...]
    quota_class: str | None
    reasons: Sequence[str]
    unit_app_roles: tuple[tuple[str, str], ...] = ()  # (unit code, app role), sorted


NONE = Entitlements(
    (), frozenset(), (), None, ("no roles and no groups: the account is not enabled",)
)


def unit_group_name(unit: UnitSnapshot) -> str:
    """``unit-<unit code lower-cased>``: "SNV.TCCB" → "unit-snv.tccb"."""
    return "unit-" + nfc(unit.code).lower()


def entitlements(life: Lifecycle, rules: Rules, base_dn: str) -> Entitlements:
    """What the account is entitled to, and why; :data:`NONE` unless it is enabled."""
    if life.state is not AccountState.ENABLED:
        return NONE
    roles, group_names, reasons = _roles(life.active, rules)
    groups = frozenset(group_dn(g, rules, base_dn) for g in group_names)
    app_roles = tuple(
        sorted({a for r in roles if not rules.roles[r].per_unit for a in rules.roles[r].app_roles})
    )
    unit_app_roles = _unit_app_roles(life.active, rules, reasons)
    quotas = {rules.roles[r].quota for r in roles} - {None}
    quota = rules.best_quota(q for q in quotas if q is not None)
    if quota is not None:
        givers = sorted(r for r in roles if rules.roles[r].quota == quota)
        reasons.append(f"quota {quota} (largest class of the roles; from {', '.join(givers)})")
    return Entitlements(roles, groups, app_roles, quota, reasons, unit_app_roles)


def _unit_app_roles(
    active: list[PostSnapshot], rules: Rules, reasons: list[str]
) -> tuple[tuple[str, str], ...]:
    """The app roles of `per_unit` roles, each with the unit of a post that gives it (a
    default role bound to a unit is held in every unit with a post)."""
    bound = {name for name, role in rules.roles.items() if role.per_unit}
    if not bound:
        return ()
    found: set[tuple[str, str]] = set()
    for post in active:
        given = set(rules.default_roles) | set(rules.positions.get(post.position_code, ()))
        for threshold in rules.leadership:
            if post.leadership_level >= threshold.min_level:
                given.update(threshold.roles)
        given.update(rules.unit_types.get(post.unit.type, ()))
        for role in sorted(given & bound):
            for app_role in rules.roles[role].app_roles:
                found.add((post.unit.code, app_role))
                reasons.append(f"{describe_post(post)}: role {role} → {app_role}@{post.unit.code}")
    return tuple(sorted(found))


def _roles(active: list[PostSnapshot], rules: Rules) -> tuple[tuple[str, ...], set[str], list[str]]:
    """Roles, group names and reasons of an enabled account holding `active` posts."""
    roles: set[str] = set()
    reasons: list[str] = []

    def grant(role: str, why: str) -> None:
        roles.add(role)
        reasons.append(f"{why} → role {role}")

    for role in rules.default_roles:
        grant(role, "default role")
    for post in active:
        desc = describe_post(post)
        for role in rules.positions.get(post.position_code, ()):
            grant(role, desc)
        for threshold in rules.leadership:
            if post.leadership_level >= threshold.min_level:
                for role in threshold.roles:
                    grant(
                        role,
                        f"{desc}: leadership level {post.leadership_level} ≥ {threshold.min_level}",
                    )
        for role in rules.unit_types.get(post.unit.type, ()):
            grant(role, f"{desc}: unit type {post.unit.type}")

    groups = {g for r in roles for g in rules.roles[r].groups}
    if rules.unit_groups:
        for post in active:
            group = unit_group_name(post.unit)
            groups.add(group)
            reasons.append(f"{describe_post(post)} → group {group}")
    return tuple(sorted(roles)), groups, reasons
