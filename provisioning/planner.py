"""Planner: the fewest operations that make what a target holds match what policy wants.

``plan(desired, actual, existing_containers=..., managed_groups=...)`` diffs a
:class:`~provisioning.model.DesiredAccount` against the :class:`~connectors.base.Account`
the connector read (None: nothing there) and returns ``Operation``s for the connector.
Planning what is already true returns ``[]``; applying a plan and planning again
returns ``[]`` (convergence in one step).

Order of a plan for an existing entry, least privilege first:

1. DISABLE, when the account must stop working: access goes before anything else,
   so a plan cut short half-way never leaves a leaver able to sign in;
2. REMOVE_MEMBER from hub-managed groups the account must leave (while the entry still
   has the DN the groups hold);
3. ENSURE_CONTAINER for missing OUs (root first), then MOVE (new parent, RDN possibly
   changed too) or RENAME (same parent, new RDN);
4. MODIFY with only the attributes whose values differ;
5. ADD_MEMBER to the groups the account must join (with its DN after the plan);
6. ENABLE, once everything else is in place.

Comparisons: DNs through :func:`connectors.dn.normalize_dn` (case and escaping are
not changes); attribute names case-insensitively; values as sets (order is not a
change), exactly (a case change in cn is repaired), except ``idhubAccountStatus``
whose values are compared case-insensitively as the directory does. ``objectClass`` is
written on create only. MOVE and RENAME are modrdn with deleteoldrdn: the planner
accounts for the new RDN value they write into ``uid``.

Groups: only memberships in ``managed_groups`` are ever removed (groups the hub does
not manage are left alone, midPoint's "range"). The hub's LDAP connector keeps a
membership on the member entry itself (connectors/ldap.py), so it follows moves and
renames and by default only the real difference is planned. For a target whose groups
list members by DN without referential integrity, ``members_follow_moves=False`` makes
a move or rename also take the old DN out of every hub-managed group it is in and put
the new DN back in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from connectors.base import Account, AccountKey, KeyKind, Operation, OpKind, Values
from connectors.dn import normalize_dn, parent_dn, rdn_of, rdn_value, split_dn
from provisioning.model import AccountState, Container, DesiredAccount

__all__ = ["IGNORED_ATTRIBUTES", "STATUS_ATTRIBUTE", "describe", "plan"]

STATUS_ATTRIBUTE = "idhubAccountStatus"
IGNORED_ATTRIBUTES = frozenset({"objectclass", STATUS_ATTRIBUTE.casefold()})
"""Never part of a MODIFY: objectClass is set on create, the status by DISABLE/ENABLE."""

_DISABLED = "disabled"
_ACTIVE = "active"


def plan(
    desired: DesiredAccount,
    actual: Account | None,
    *,
    existing_containers: AbstractSet[str],
    managed_groups: AbstractSet[str],
    members_follow_moves: bool = True,
    kind: KeyKind = KeyKind.PERSON,
) -> list[Operation]:
    """Operations that turn `actual` into `desired` (see the module docstring).

    `existing_containers` and `managed_groups` hold normalised DNs
    (:func:`connectors.dn.normalize_dn`). `actual.groups` must have been read:
    ValueError when it is None (removals cannot be planned from "not read"), or when
    `actual` belongs to another person. `kind` is what the desired account's key names
    (a person, or a seat: see provisioning.seats).
    """
    key = AccountKey(desired.person_id, kind)
    if actual is not None:
        if actual.key.kind is not kind or (
            actual.key.id.casefold() != desired.person_id.casefold()
        ):
            raise ValueError(f"actual account {actual.key} is not {key}")
        if actual.groups is None:
            raise ValueError(
                f"groups of {actual.name} were not read: memberships cannot be planned"
            )
    headline = desired.reasons[0] if desired.reasons else str(desired.state)

    if desired.state is AccountState.ABSENT:
        if actual is None:
            return []
        assert actual.groups is not None
        ops = [
            Operation(
                OpKind.REMOVE_MEMBER,
                key,
                group=group,
                current=actual.name,
                reason=f"account to be deleted ({headline}): leaves the group",
            )
            for group in _managed_memberships(actual.groups, managed_groups).values()
        ]
        ops.append(Operation(OpKind.DELETE, key, current=actual.name, reason=headline))
        return ops

    if actual is None:
        ops = _ensure_containers(desired.containers, existing_containers)
        attributes = {name: values for name, values in desired.attributes.items() if values}
        ops.append(
            Operation(
                OpKind.CREATE,
                key,
                name=desired.name,
                attributes=attributes,
                reason=f"new account ({headline})",
            )
        )
        ops.extend(
            Operation(
                OpKind.ADD_MEMBER,
                key,
                group=group,
                current=desired.name,
                reason=_group_reason(desired),
            )
            for group in _by_norm(desired.groups).values()
        )
        return ops

    return _update(
        desired, actual, key, headline, existing_containers, managed_groups, members_follow_moves
    )


def _update(
    desired: DesiredAccount,
    actual: Account,
    key: AccountKey,
    headline: str,
    existing_containers: AbstractSet[str],
    managed_groups: AbstractSet[str],
    members_follow_moves: bool,
) -> list[Operation]:
    assert actual.groups is not None
    ops: list[Operation] = []
    current = actual.name

    # 1. status: disable first
    want_status = {v.casefold() for v in desired.attributes.get(STATUS_ATTRIBUTE, ())}
    have_status = {v.casefold() for v in actual.get(STATUS_ATTRIBUTE)}
    disable = want_status == {_DISABLED} and have_status != want_status
    enable = want_status == {_ACTIVE} and have_status != want_status
    if disable:
        ops.append(Operation(OpKind.DISABLE, key, current=current, reason=headline))

    # 2. memberships to drop, while the groups still hold the current DN
    dn_changes = normalize_dn(actual.name) != normalize_dn(desired.name)
    rewrite = dn_changes and not members_follow_moves
    wanted = _by_norm(desired.groups)
    held = _by_norm(actual.groups)
    managed_held = _managed_memberships(actual.groups, managed_groups)
    for norm, group in managed_held.items():
        if norm not in wanted:
            why = (
                "account not enabled: leaves every hub-managed group"
                if desired.state is not AccountState.ENABLED
                else "no role or unit gives this group any more"
            )
        elif rewrite:
            why = "member DN changes: removed under the old DN, added again under the new"
        else:
            continue
        ops.append(Operation(OpKind.REMOVE_MEMBER, key, group=group, current=current, reason=why))

    # 3. place: containers, then move or rename
    if normalize_dn(parent_dn(actual.name)) != normalize_dn(parent_dn(desired.name)):
        ops.extend(_ensure_containers(desired.containers, existing_containers))
        why = f"unit changed: {_place(parent_dn(actual.name))} → {_place(parent_dn(desired.name))}"
        if normalize_dn(rdn_of(actual.name)) != normalize_dn(rdn_of(desired.name)):
            why += f"; {_rdn_change(actual.name, desired.name)}"
        ops.append(Operation(OpKind.MOVE, key, name=desired.name, current=current, reason=why))
        current = desired.name
    elif dn_changes:
        ops.append(
            Operation(
                OpKind.RENAME,
                key,
                name=desired.name,
                current=current,
                reason=_rdn_change(actual.name, desired.name),
            )
        )
        current = desired.name

    # 4. attributes
    have = _attributes_after_modrdn(actual, desired.name) if dn_changes else None
    changes: dict[str, Values] = {}
    notes: list[str] = []
    for name, want in desired.attributes.items():
        if name.casefold() in IGNORED_ATTRIBUTES:
            continue
        now = have.get(name.casefold(), ()) if have is not None else actual.get(name)
        if set(want) == set(now):
            continue
        if want:
            changes[name] = want
            notes.append(f"{name} {'changed' if now else 'added'}")
        else:
            changes[name] = ()
            notes.append(f"{name} removed")
    if changes:
        ops.append(
            Operation(
                OpKind.MODIFY, key, attributes=changes, current=current, reason="; ".join(notes)
            )
        )

    # 5. memberships to add, with the DN after the plan
    # (after a move without refint no group holds the new DN yet: add to every one)
    for norm, group in wanted.items():
        if norm in held and not rewrite:
            continue
        if norm in managed_held:
            why = "member DN changes: added again under the new DN"
        else:
            why = _group_reason(desired)
        ops.append(Operation(OpKind.ADD_MEMBER, key, group=group, current=desired.name, reason=why))

    # 6. status: enable last
    if enable:
        ops.append(Operation(OpKind.ENABLE, key, current=current, reason=headline))
    return ops


# --------------------------------------------------------------------------- helpers


def _by_norm(dns: AbstractSet[str]) -> dict[str, str]:
    """normalised DN → one original spelling, sorted by normalised DN (deterministic)."""
    out: dict[str, str] = {}
    for dn in sorted(dns):
        out.setdefault(normalize_dn(dn), dn)
    return dict(sorted(out.items()))


def _managed_memberships(groups: AbstractSet[str], managed: AbstractSet[str]) -> dict[str, str]:
    return {norm: dn for norm, dn in _by_norm(groups).items() if norm in managed}


def _ensure_containers(
    containers: Sequence[Container], existing: AbstractSet[str]
) -> list[Operation]:
    ops: list[Operation] = []
    for container in containers:
        norm = normalize_dn(container.name)
        if norm in existing:
            continue
        target = AccountKey(container.unit_id or norm, KeyKind.UNIT)
        what = f"unit {container.unit_id}" if container.unit_id else "no unit"
        ops.append(
            Operation(
                OpKind.ENSURE_CONTAINER,
                target,
                name=container.name,
                attributes={k: v for k, v in container.attributes.items() if v},
                reason=f"container missing: {_place(container.name)} ({what})",
            )
        )
    return ops


def _place(dn: str) -> str:
    return rdn_value(dn) or "(base)"


def _rdn_change(old: str, new: str) -> str:
    attr = split_dn(new)[0][0][0]
    return f"{attr} changed: {rdn_value(old)} → {rdn_value(new)}"


def _attributes_after_modrdn(actual: Account, new_dn: str) -> dict[str, Values]:
    """The entry's attributes (by case-folded name) after a modrdn to `new_dn` with
    deleteoldrdn: the old RDN values go, the new RDN values come."""
    values: dict[str, list[str]] = {}
    for name, vals in actual.attributes.items():
        values.setdefault(name.casefold(), []).extend(vals)
    old_rdn = split_dn(actual.name)[0]
    new_rdn = split_dn(new_dn)[0]
    for attr, value, _ in old_rdn:
        folded = (value or "").casefold()
        key = attr.casefold()
        values[key] = [v for v in values.get(key, []) if v.casefold() != folded]
    for attr, value, _ in new_rdn:
        key = attr.casefold()
        present = values.setdefault(key, [])
        if value and all(v.casefold() != value.casefold() for v in present):
            present.append(value)
    return {name: tuple(vals) for name, vals in values.items()}


def _group_reason(desired: DesiredAccount) -> str:
    roles = ", ".join(desired.roles) if desired.roles else "none"
    return f"required by the account's roles or units (roles: {roles})"


# --------------------------------------------------------------------------- preview


def describe(ops: Sequence[Operation]) -> list[dict[str, Any]]:
    """A JSON-friendly preview of a plan (for the dry-run API): one dict per operation
    with kind, target ("person:<id>"), name, current, attributes (lists), group, reason."""
    return [
        {
            "kind": str(op.kind),
            "target": str(op.target),
            "name": op.name,
            "current": op.current,
            "attributes": _attributes_json(op.attributes),
            "group": op.group,
            "reason": op.reason,
        }
        for op in ops
    ]


def _attributes_json(attributes: Mapping[str, Values]) -> dict[str, list[str]]:
    return {name: list(values) for name, values in attributes.items()}
