"""Lifecycle mapping: the account's state, the post that places it, its DN and containers.

State
-----
* a post active today and status "active"            → ENABLED
* a post active today, any other status              → DISABLED (suspended, left early)
* no active post, a post starting within prehire_days → DISABLED (pre-provisioned)
* posts that all ended; E = the latest end date:
    today <= E + retention_days                       → DISABLED, in ou=<former_ou>
    later: a post starts in the future (beyond prehire) → DISABLED (kept for the return)
    later, otherwise                                   → ABSENT if delete_after_retention,
                                                         else DISABLED
* no posts, or only future posts beyond prehire       → ABSENT

Placement
---------
* with active posts: the unit of the active primary post (several — a handover day —:
  the one that started last); with none, the active concurrent post with the highest
  leadership level (tie: earliest start, then unit code);
* pre-provisioned: the earliest post in the prehire window, primary posts first;
* leavers: ``ou=<former_ou>,<base_dn>``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import NamedTuple

from connectors.dn import child_dn
from provisioning.containers import former_container, unit_containers
from provisioning.model import (
    AccountState,
    Container,
    PersonSnapshot,
    PostKind,
    PostSnapshot,
    UnitSnapshot,
)
from provisioning.rules import Rules

__all__ = ["RANGE", "Lifecycle", "describe_post", "lifecycle", "place", "status"]

RANGE = ("idhubAccountStatus",)  # and the account's place: DesiredAccount.name, .containers

STATUS_ACTIVE = "active"
_ENABLED = {"idhubAccountStatus": ("active",)}
_DISABLED = {"idhubAccountStatus": ("disabled",)}


class Lifecycle(NamedTuple):
    """What the other mappings build on (a NamedTuple: made once per person, cheaply)."""

    state: AccountState
    active: list[PostSnapshot]  # posts held today, in the order reasons list them
    placement: PostSnapshot | None  # the post whose unit holds the account
    mail_unit: UnitSnapshot | None  # the unit whose domain gives the address
    left_on: dt.date | None  # a leaver within retention: the day the last post ended
    reasons: list[str]


def describe_post(post: PostSnapshot) -> str:
    kind = "primary" if post.kind is PostKind.PRIMARY else "concurrent"
    return f"{kind} post {post.position_code} in {post.unit.code}"


def _post_order(post: PostSnapshot) -> tuple[bool, str, str, dt.date]:
    """Order of posts in reasons: primary first, then unit and position code."""
    return (post.kind is not PostKind.PRIMARY, post.unit.code, post.position_code, post.start)


def lifecycle(person: PersonSnapshot, rules: Rules) -> Lifecycle:
    """State and placement of `person`'s account today, and why."""
    today = person.today
    active = sorted((p for p in person.posts if p.active_on(today)), key=_post_order)
    if active:
        placement, where = _placement_active(active)
        held = f"{len(active)} post{'s' if len(active) > 1 else ''} held today"
        if person.status == STATUS_ACTIVE:
            state, why = AccountState.ENABLED, f"enabled: {held}, status active"
        else:
            state, why = AccountState.DISABLED, f"disabled: status {person.status} ({held})"
        return Lifecycle(state, active, placement, placement.unit, None, [why, where])

    future = [p for p in person.posts if p.start > today]
    prehire = rules.joiner.prehire_days
    window = [p for p in future if (p.start - today).days <= prehire]
    if window:
        placement = _placement_future(window)
        reasons = [
            f"disabled: pre-provisioned, {describe_post(placement)} starts on "
            f"{placement.start.isoformat()} (prehire {prehire} days)",
            f"placed in {placement.unit.code}: first post to start",
        ]
        return Lifecycle(AccountState.DISABLED, active, placement, placement.unit, None, reasons)

    ended = [p for p in person.posts if p.end is not None and p.end < today]
    if ended:
        return _leaver(ended, future, today, rules)
    if future:
        first = min(p.start for p in future)
        why = (
            f"absent: no post yet; the first starts on {first.isoformat()}, beyond "
            f"the prehire window of {prehire} days"
        )
    else:
        why = "absent: no post"
    return Lifecycle(AccountState.ABSENT, active, None, None, None, [why])


def _leaver(
    ended: list[PostSnapshot], future: list[PostSnapshot], today: dt.date, rules: Rules
) -> Lifecycle:
    mail_unit = _last_post(ended).unit
    left = max(p.end for p in ended if p.end is not None)
    until = left + dt.timedelta(days=rules.leaver.retention_days)
    left_txt = f"left on {left.isoformat()}"
    if today <= until:
        state = AccountState.DISABLED
        why = f"disabled: {left_txt}; retention until {until.isoformat()}"
    elif future:
        state = AccountState.DISABLED
        back = min(p.start for p in future)
        why = (
            f"disabled: {left_txt}; retention ended on {until.isoformat()}, kept "
            f"for the post starting on {back.isoformat()}"
        )
    elif rules.leaver.delete_after_retention:
        state = AccountState.ABSENT
        why = f"absent: {left_txt}; retention ended on {until.isoformat()}"
    else:
        state = AccountState.DISABLED
        why = (
            f"disabled: {left_txt}; retention ended on {until.isoformat()}, kept "
            "(delete_after_retention = false)"
        )
    if state is AccountState.ABSENT:
        return Lifecycle(state, [], None, mail_unit, None, [why])
    reasons = [why, f"placed in ou={rules.directory.former_ou}: no current post"]
    left_on = left if today <= until else None
    return Lifecycle(state, [], None, mail_unit, left_on, reasons)


def _placement_active(active: list[PostSnapshot]) -> tuple[PostSnapshot, str]:
    primaries = [p for p in active if p.kind is PostKind.PRIMARY]
    if primaries:
        post = min(
            primaries,
            key=lambda p: (-p.start.toordinal(), -p.leadership_level, p.unit.code, p.position_code),
        )
        why = f"placed in {post.unit.code}: {describe_post(post)}"
        if len(primaries) > 1:
            why += f" (latest of {len(primaries)} primary posts held today)"
        return post, why
    post = min(
        active,
        key=lambda p: (-p.leadership_level, p.start, p.unit.code, p.position_code),
    )
    return post, (
        f"placed in {post.unit.code}: no primary post today; {describe_post(post)} has the "
        f"highest leadership level ({post.leadership_level})"
    )


def _placement_future(window: list[PostSnapshot]) -> PostSnapshot:
    return min(
        window,
        key=lambda p: (p.kind is not PostKind.PRIMARY, p.start, p.unit.code, p.position_code),
    )


def _last_post(ended: list[PostSnapshot]) -> PostSnapshot:
    """The post that ended last (primary preferred): its unit gives a leaver's mail domain."""
    return max(
        ended,
        key=lambda p: (
            p.end or p.start,
            p.kind is PostKind.PRIMARY,
            p.start,
            p.unit.code,
            p.position_code,
        ),
    )


def place(
    life: Lifecycle, username: str, rules: Rules, base_dn: str
) -> tuple[str, tuple[Container, ...]]:
    """The account's DN and the containers it needs, root first (none when absent)."""
    if life.placement is not None:
        containers = unit_containers(life.placement.unit, base_dn)
    else:
        former = former_container(rules, base_dn)
        if life.state is AccountState.ABSENT:
            return child_dn("uid", username, former.name), ()
        containers = (former,)
    return child_dn("uid", username, containers[-1].name), containers


def status(life: Lifecycle) -> Mapping[str, tuple[str, ...]]:
    """``idhubAccountStatus`` of an account that exists (a shared, read-only answer)."""
    return _ENABLED if life.state is AccountState.ENABLED else _DISABLED
