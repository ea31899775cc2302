"""Policy: what the LDAP directory should hold for one person (a pure function).

``desired_account(person, rules, base_dn=...)`` turns an HR snapshot and the rules into a
:class:`~provisioning.model.DesiredAccount`: state, DN, the hub-owned attributes, groups,
roles, quota class and the reasons for each decision. Same input, same output: no
clock (``person.today`` is the date), no database, no network.

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

Containers mirror the org tree (``ou=SNV.TCCB,ou=SNV,ou=12,<base_dn>``), one per unit
on the path, root first. A leaver keeps cn/sn/mail/employeeNumber but loses title,
departmentNumber and ou (they describe a post no longer held); the mail address stays
(on the domain of the last post's unit) so forwarding can be set during retention.

Roles (ENABLED only; a disabled account has no role and no group)
-----------------------------------------------------------------
default_roles + for every active post (primary and concurrent alike): the roles of its
position code, of every leadership threshold its level reaches, and of its unit's
type. Groups are the roles' groups plus, with ``unit_groups``, ``unit-<code>`` for every
unit holding an active post. The quota class is the largest one among the roles.

Mail (every account with an address, i.e. whose unit or a parent has a mail domain)
-----------------------------------------------------------------------------------
* ``mail`` = <uid>@<domain of the placement unit> (a leaver: of the last post's unit);
* ``idhubMailbox`` = :func:`mailbox_location` of the immutable person key, never of a
  name or address, so a reused address never shows a previous owner's mail;
* ``idhubMailQuota`` = the bytes of the quota class (enabled accounts only);
* ``idhubMailAlias`` = earlier addresses of the person (``person.addresses``), for
  ``[mail] old_address_days`` after they were superseded (at least until
  ``old_addresses_until``); an address superseded by this very converge counts from today;
* a leaver within retention: ``idhubMailForward`` = the successor's or the unit mailbox
  for ``leaver_forward_days`` (``leaver_action = "forward"``), otherwise
  ``idhubMailBounce`` = the rules' message, folded to ASCII (SMTP replies are ASCII).
  Postfix forwards or refuses; login stops with the account status at once.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable

from provisioning.dn import child_dn
from provisioning.model import (
    AccountState,
    Container,
    DesiredAccount,
    PastAddress,
    PersonSnapshot,
    PostKind,
    PostSnapshot,
    UnitSnapshot,
)
from provisioning.naming import fold
from provisioning.rules import Rules

__all__ = [
    "FORMER_DESCRIPTION",
    "PERSON_OBJECT_CLASSES",
    "UNIT_OBJECT_CLASSES",
    "desired_account",
    "group_dn",
    "groups_container_dn",
    "mailbox_location",
    "unit_container_dn",
    "unit_containers",
    "unit_group_name",
]

PERSON_OBJECT_CLASSES = ("inetOrgPerson", "idhubPerson")
UNIT_OBJECT_CLASSES = ("organizationalUnit", "idhubOrgUnit")
FORMER_OBJECT_CLASSES = ("organizationalUnit",)
FORMER_DESCRIPTION = "Former staff"
STATUS_ACTIVE = "active"
ACCOUNT_ACTIVE = "active"
ACCOUNT_DISABLED = "disabled"
TRUE = "TRUE"


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def _values(*values: str | None) -> tuple[str, ...]:
    """NFC, with empty values dropped (an empty tuple means "must be absent")."""
    return tuple(_nfc(v) for v in values if v)


# --------------------------------------------------------------------------- DNs


@functools.lru_cache(maxsize=4096)  # pure, and a batch places hundreds of people per unit
def unit_containers(unit: UnitSnapshot, base_dn: str) -> tuple[Container, ...]:
    """One container per unit on the unit's path, root first."""
    if not unit.path or not len(unit.path) == len(unit.path_ids) == len(unit.path_names):
        raise ValueError(
            f"unit {unit.code!r}: path, path_ids and path_names must be non-empty and of "
            f"equal length, got {unit.path!r}, {unit.path_ids!r}, {unit.path_names!r}"
        )
    containers: list[Container] = []
    parent = base_dn
    for code, unit_id, name in zip(unit.path, unit.path_ids, unit.path_names, strict=True):
        parent = child_dn("ou", _nfc(code), parent)
        containers.append(
            Container(
                name=parent,
                unit_id=unit_id,
                attributes={
                    "objectClass": UNIT_OBJECT_CLASSES,
                    "ou": _values(code),
                    "description": _values(name),
                    "idhubUnitId": _values(unit_id),
                    "idhubManaged": (TRUE,),
                },
            )
        )
    return tuple(containers)


def unit_container_dn(unit: UnitSnapshot, base_dn: str) -> str:
    return unit_containers(unit, base_dn)[-1].name


def _former_container(rules: Rules, base_dn: str) -> Container:
    return _former(rules.directory.former_ou, base_dn)


@functools.lru_cache(maxsize=64)  # asked for every person planned; read only
def _former(former_ou: str, base_dn: str) -> Container:
    return Container(
        name=child_dn("ou", former_ou, base_dn),
        unit_id="",
        attributes={
            "objectClass": FORMER_OBJECT_CLASSES,
            "ou": _values(former_ou),
            "description": (FORMER_DESCRIPTION,),
        },
    )


def groups_container_dn(rules: Rules, base_dn: str) -> str:
    return child_dn("ou", rules.directory.groups_ou, base_dn)


def group_dn(name: str, rules: Rules, base_dn: str) -> str:
    """``cn=<name>,ou=<groups_ou>,<base_dn>``."""
    return _group_dn(name, rules.directory.groups_ou, base_dn)


@functools.lru_cache(maxsize=4096)  # a few dozen groups, asked for by every person
def _group_dn(name: str, groups_ou: str, base_dn: str) -> str:
    return child_dn("cn", name, child_dn("ou", groups_ou, base_dn))


def unit_group_name(unit: UnitSnapshot) -> str:
    """``unit-<unit code lower-cased>``: "SNV.TCCB" → "unit-snv.tccb"."""
    return "unit-" + _nfc(unit.code).lower()


# --------------------------------------------------------------------------- choices


def _kind(post: PostSnapshot) -> str:
    return "primary" if post.kind is PostKind.PRIMARY else "concurrent"


def _describe(post: PostSnapshot) -> str:
    return f"{_kind(post)} post {post.position_code} in {post.unit.code}"


def _post_order(post: PostSnapshot) -> tuple[bool, str, str, dt.date]:
    """Order of posts in reasons: primary first, then unit and position code."""
    return (post.kind is not PostKind.PRIMARY, post.unit.code, post.position_code, post.start)


def _placement_active(active: list[PostSnapshot]) -> tuple[PostSnapshot, str]:
    primaries = [p for p in active if p.kind is PostKind.PRIMARY]
    if primaries:
        post = min(
            primaries,
            key=lambda p: (-p.start.toordinal(), -p.leadership_level, p.unit.code, p.position_code),
        )
        why = f"placed in {post.unit.code}: {_describe(post)}"
        if len(primaries) > 1:
            why += f" (latest of {len(primaries)} primary posts held today)"
        return post, why
    post = min(
        active,
        key=lambda p: (-p.leadership_level, p.start, p.unit.code, p.position_code),
    )
    return post, (
        f"placed in {post.unit.code}: no primary post today; {_describe(post)} has the "
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


def _mail(username: str, unit: UnitSnapshot | None) -> tuple[str, ...]:
    if unit is None or not unit.mail_domain:
        return ()
    return _values(f"{username}@{unit.mail_domain.strip().lower()}")


_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def mailbox_location(person_id: str) -> str:
    """Where a person's mailbox lives below the mail root: ``<2 chars>/<person key>``
    (lower case), from the immutable key only. ValueError for a key that is not a safe
    path component (the hub's keys are UUIDs)."""
    if not _KEY.fullmatch(person_id):
        raise ValueError(f"person key {person_id!r} cannot name a mailbox")
    key = person_id.lower()
    return f"{key[:2]}/{key}"


def _aliases(
    addresses: Iterable[PastAddress], primary: str | None, rules: Rules, today: dt.date
) -> tuple[tuple[str, ...], list[str]]:
    """Earlier addresses that still deliver, and why."""
    keep_days = dt.timedelta(days=rules.mail.old_address_days)
    floor = rules.mail.old_addresses_until
    kept: dict[str, str] = {}
    for past in addresses:
        address = _nfc(past.address).lower()
        if not address or address == primary:
            continue
        superseded = past.superseded_on or today
        until = superseded + keep_days
        if floor is not None and floor > until:
            until = floor
        if today <= until:
            kept[address] = f"old address {address} kept as an alias until {until.isoformat()}"
    return tuple(sorted(kept)), [kept[a] for a in sorted(kept)]


def _leaver_mail(
    person: PersonSnapshot,
    rules: Rules,
    primary: str,
    unit: UnitSnapshot | None,
    left: dt.date,
) -> tuple[dict[str, tuple[str, ...]], str]:
    """idhubMailForward or idhubMailBounce for a leaver within retention, and why."""
    mail = rules.mail
    until = left + dt.timedelta(days=min(mail.leaver_forward_days, rules.leaver.retention_days))
    if mail.leaver_action == "forward" and person.today <= until:
        for target in mail.leaver_forward_to:
            address: str | None = None
            if target == "successor" and person.successor_address:
                address = person.successor_address.strip().lower()
            elif target == "unit" and mail.unit_mailbox and unit and unit.mail_domain:
                address = f"{mail.unit_mailbox}@{unit.mail_domain.strip().lower()}"
            if address and address != primary:
                return (
                    {"idhubMailForward": (address,), "idhubMailBounce": ()},
                    f"mail forwarded to the {target} {address} until {until.isoformat()}",
                )
    message = mail.leaver_bounce_message.format(
        name=_nfc(person.full_name) or person.username, address=primary
    )
    ascii_message = fold(message).encode("ascii", "replace").decode().replace("?", " ")
    why = (
        f"mail refused with the leaver message (forwarding ended on {until.isoformat()})"
        if mail.leaver_action == "forward" and person.today > until
        else "mail refused with the leaver message"
        + (" (no successor or unit mailbox)" if mail.leaver_action == "forward" else "")
    )
    return {"idhubMailForward": (), "idhubMailBounce": (" ".join(ascii_message.split()),)}, why


# --------------------------------------------------------------------------- policy


def desired_account(person: PersonSnapshot, rules: Rules, *, base_dn: str) -> DesiredAccount:
    """What the directory should hold for `person` (see the module docstring)."""
    if not person.username:
        raise ValueError(f"person {person.id}: no username allocated")
    if not person.id:
        raise ValueError("person without an id")
    today = person.today
    username = _nfc(person.username)
    active = sorted((p for p in person.posts if p.active_on(today)), key=_post_order)
    future = [p for p in person.posts if p.start > today]
    ended = [p for p in person.posts if p.end is not None and p.end < today]

    reasons: list[str] = []
    placement: PostSnapshot | None = None  # post whose unit holds the account
    mail_unit: UnitSnapshot | None = None
    left_on: dt.date | None = None  # a leaver: the day the last post ended
    state: AccountState

    if active:
        placement, where = _placement_active(active)
        mail_unit = placement.unit
        held = f"{len(active)} post{'s' if len(active) > 1 else ''} held today"
        if person.status == STATUS_ACTIVE:
            state = AccountState.ENABLED
            reasons.append(f"enabled: {held}, status active")
        else:
            state = AccountState.DISABLED
            reasons.append(f"disabled: status {person.status} ({held})")
        reasons.append(where)
    else:
        window = [p for p in future if (p.start - today).days <= rules.joiner.prehire_days]
        if window:
            placement = _placement_future(window)
            mail_unit = placement.unit
            state = AccountState.DISABLED
            reasons.append(
                f"disabled: pre-provisioned, {_describe(placement)} starts on "
                f"{placement.start.isoformat()} (prehire {rules.joiner.prehire_days} days)"
            )
            reasons.append(f"placed in {placement.unit.code}: first post to start")
        elif ended:
            last = _last_post(ended)
            mail_unit = last.unit
            left = max(p.end for p in ended if p.end is not None)
            until = left + dt.timedelta(days=rules.leaver.retention_days)
            left_txt = f"left on {left.isoformat()}"
            if today <= until:
                state = AccountState.DISABLED
                reasons.append(f"disabled: {left_txt}; retention until {until.isoformat()}")
            elif future:
                state = AccountState.DISABLED
                back = min(p.start for p in future)
                reasons.append(
                    f"disabled: {left_txt}; retention ended on {until.isoformat()}, kept "
                    f"for the post starting on {back.isoformat()}"
                )
            elif rules.leaver.delete_after_retention:
                state = AccountState.ABSENT
                reasons.append(f"absent: {left_txt}; retention ended on {until.isoformat()}")
            else:
                state = AccountState.DISABLED
                reasons.append(
                    f"disabled: {left_txt}; retention ended on {until.isoformat()}, kept "
                    "(delete_after_retention = false)"
                )
            if state is AccountState.DISABLED:
                reasons.append(f"placed in ou={rules.directory.former_ou}: no current post")
                if today <= until:
                    left_on = left
        else:
            state = AccountState.ABSENT
            if future:
                first = min(p.start for p in future)
                reasons.append(
                    f"absent: no post yet; the first starts on {first.isoformat()}, beyond "
                    f"the prehire window of {rules.joiner.prehire_days} days"
                )
            else:
                reasons.append("absent: no post")

    former = _former_container(rules, base_dn)
    if state is AccountState.ABSENT:
        return DesiredAccount(
            person_id=person.id,
            state=state,
            name=child_dn("uid", username, former.name),
            attributes={},
            groups=frozenset(),
            containers=(),
            reasons=tuple(reasons),
        )

    containers = unit_containers(placement.unit, base_dn) if placement else (former,)
    name = child_dn("uid", username, containers[-1].name)

    full_name = _nfc(person.full_name) or username
    unit = placement.unit if placement is not None else None
    attributes: dict[str, tuple[str, ...]] = {
        "objectClass": PERSON_OBJECT_CLASSES,
        "uid": (username,),
        "cn": (full_name,),
        "sn": _values(person.family_name or person.given_name or username),
        "givenName": _values(person.given_name),
        "displayName": (full_name,),
        "mail": _mail(username, mail_unit),
        "title": _values(placement.position_name if placement is not None else None),
        "departmentNumber": _values(unit.code if unit is not None else None),
        "ou": _values(unit.name if unit is not None else None),
        "employeeNumber": _values(person.civil_servant_code),
        "idhubPersonId": (person.id,),
        "idhubAccountStatus": (
            (ACCOUNT_ACTIVE,) if state is AccountState.ENABLED else (ACCOUNT_DISABLED,)
        ),
        "idhubManaged": (TRUE,),
    }

    roles: tuple[str, ...] = ()
    groups: frozenset[str] = frozenset()
    app_roles: tuple[str, ...] = ()
    quota: str | None = None
    if state is AccountState.ENABLED:
        roles, group_names, role_reasons = _roles(active, rules)
        reasons.extend(role_reasons)
        groups = frozenset(group_dn(g, rules, base_dn) for g in group_names)
        app_roles = tuple(sorted({a for r in roles for a in rules.roles[r].app_roles}))
        quotas = {rules.roles[r].quota for r in roles} - {None}
        quota = rules.best_quota(q for q in quotas if q is not None)
        if quota is not None:
            givers = sorted(r for r in roles if rules.roles[r].quota == quota)
            reasons.append(f"quota {quota} (largest class of the roles; from {', '.join(givers)})")
    else:
        reasons.append("no roles and no groups: the account is not enabled")

    primary = attributes["mail"][0] if attributes["mail"] else None
    attributes["idhubMailbox"] = (mailbox_location(person.id),) if primary else ()
    if state is AccountState.ENABLED:  # a disabled account keeps its quota (no churn)
        attributes["idhubMailQuota"] = (
            (str(rules.quota_bytes(quota)),) if primary and quota is not None else ()
        )
    aliases, alias_reasons = _aliases(person.addresses, primary, rules, today)
    attributes["idhubMailAlias"] = aliases if primary else ()
    reasons.extend(alias_reasons if primary else [])
    attributes["idhubMailForward"] = ()
    attributes["idhubMailBounce"] = ()
    if primary and left_on is not None:
        leaver_mail, why = _leaver_mail(person, rules, primary, mail_unit, left_on)
        attributes.update(leaver_mail)
        reasons.append(why)

    return DesiredAccount(
        person_id=person.id,
        state=state,
        name=name,
        attributes=attributes,
        groups=groups,
        containers=containers,
        roles=roles,
        app_roles=app_roles,
        quota_class=quota,
        reasons=tuple(_unique(reasons)),
    )


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
        desc = _describe(post)
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
            reasons.append(f"{_describe(post)} → group {group}")
    return tuple(sorted(roles)), groups, reasons


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
