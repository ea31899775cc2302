"""Application roles per app, per unit, and delegated (ủy quyền): pure functions.

An application role is "<app>:<role>" (idhub/defaults/rules.toml). A role of the rules with
``per_unit = true`` gives its application roles for the unit of the post that gives it
(:attr:`~provisioning.model.DesiredAccount.unit_app_roles`); the others hold everywhere
(:attr:`~provisioning.model.DesiredAccount.app_roles`).

A delegation hands some of a person's application roles in one app (all, or chosen
ones; for one unit or all) to a deputy for a date range. What the deputy receives is
computed from the delegator's own roles *on the day asked*: a delegator who lost the
post that gave a role no longer passes it on. Nothing here reads a clock: `today` is
an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from provisioning.model import AccountState, DesiredAccount
from provisioning.rules import Rules

__all__ = ["AppRoles", "DelegationSpec", "app_of", "delegated_roles", "roles_for_app"]


def known_apps(rules: Rules) -> set[str]:
    """Every app key the rules give roles in."""
    return {app_of(r) for role in rules.roles.values() for r in role.app_roles}


def app_of(app_role: str) -> str:
    """The app key of "<app>:<role>"."""
    return app_role.partition(":")[0]


@dataclass(frozen=True, slots=True)
class DelegationSpec:
    """One delegation as the core needs it. `roles` empty: every role in the app;
    `unit` None: every unit (and the roles held everywhere)."""

    app: str
    start: dt.date
    end: dt.date  # inclusive
    roles: tuple[str, ...] = ()
    unit: str | None = None

    def active_on(self, day: dt.date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class AppRoles:
    """One app's roles of a person: held everywhere, and per unit code."""

    everywhere: tuple[str, ...] = ()
    by_unit: tuple[tuple[str, str], ...] = ()  # (unit code, app role), sorted

    def is_empty(self) -> bool:
        return not self.everywhere and not self.by_unit


def roles_for_app(desired: DesiredAccount, app: str) -> AppRoles:
    """The roles of `desired` in `app` (none for a disabled account)."""
    if desired.state is not AccountState.ENABLED or not app:
        return AppRoles()
    return AppRoles(
        tuple(r for r in desired.app_roles if app_of(r) == app),
        tuple((u, r) for u, r in desired.unit_app_roles if app_of(r) == app),
    )


def delegated_roles(delegator: DesiredAccount, spec: DelegationSpec, today: dt.date) -> AppRoles:
    """What the deputy receives from `delegator` under `spec` on `today` (nothing outside
    its dates). A delegation for one unit passes the roles held in that unit and the
    ones held everywhere, but bound to that unit: the deputy acts for that unit only."""
    if not spec.active_on(today):
        return AppRoles()
    own = roles_for_app(delegator, spec.app)
    chosen = set(spec.roles)

    def wanted(role: str) -> bool:
        return not chosen or role in chosen

    if spec.unit is None:
        return AppRoles(
            tuple(r for r in own.everywhere if wanted(r)),
            tuple((u, r) for u, r in own.by_unit if wanted(r)),
        )
    in_unit = {r for u, r in own.by_unit if u == spec.unit} | set(own.everywhere)
    return AppRoles((), tuple((spec.unit, r) for r in sorted(in_unit) if wanted(r)))


def merge(parts: Iterable[AppRoles]) -> AppRoles:
    everywhere: set[str] = set()
    by_unit: set[tuple[str, str]] = set()
    for part in parts:
        everywhere.update(part.everywhere)
        by_unit.update(part.by_unit)
    return AppRoles(tuple(sorted(everywhere)), tuple(sorted(by_unit)))


__all__ += ["known_apps", "merge"]
