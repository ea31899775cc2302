"""Seat mailboxes (hộp thư theo chức danh): a mailbox that belongs to a post, not a person.

A seat is (unit, position code) for a code listed in ``[seats.positions]``; its key is
``seat_key(unit id, code)``, a UUID derived from both, so the same post always finds the
same seat. The directory holds one entry per seat, ``uid=<seat uid>,ou=<seats ou>,<base>``
(``inetOrgPerson`` + ``idhubSeat``, no password: nobody signs in as a seat), with the
address, a mailbox location derived from the seat key (so the mailbox and its history
stay when the post changes hands) and a quota. Postfix delivers to it like to a person;
Dovecot serves it to the holders of the post today through an ACL on its INBOX.

Everything here is pure: the shell builds a :class:`SeatSnapshot` from HR, and
:func:`desired_seat` says what the directory should hold.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass

from connectors.dn import child_dn
from provisioning.model import AccountState, Container, DesiredAccount, UnitSnapshot
from provisioning.naming import MAX_IDENTIFIER_LENGTH, fold, nfc
from provisioning.policy import mailbox_location
from provisioning.rules import Rules

__all__ = [
    "SEAT_OBJECT_CLASSES",
    "SEAT_RIGHTS",
    "SeatSnapshot",
    "desired_seat",
    "seat_container",
    "seat_key",
    "seat_uid_base",
]

SEAT_OBJECT_CLASSES = ("inetOrgPerson", "idhubSeat")
SEAT_RIGHTS = ("lookup", "read", "write", "write-seen", "write-deleted", "insert", "expunge")
"""What a holder may do in the seat's INBOX: everything a mailbox owner does day to day,
but not change its ACL (only the hub hands a seat over)."""

_NAMESPACE = uuid.UUID("5b0f7f8e-2c61-4a3e-9b57-6a0c2f1d9e44")  # fixed forever

# Words that say what kind of unit it is, not which one: "Ủy ban nhân dân xã Bản Lang"
# → "banlang". Folded and lower case; at most one of each group is taken off the front
# (never more: "Xã Bản Lang" must not lose "Bản").
_BODY_WORDS = ("uy ban nhan dan", "hoi dong nhan dan", "ubnd", "hdnd")
_LEVEL_WORDS = ("thanh pho", "thi tran", "thi xa", "dac khu", "phuong", "xa", "tinh", "so")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def seat_key(unit_id: str, position_code: str) -> str:
    """The seat's immutable key: the same post (unit, position code) → the same key."""
    return str(uuid.uuid5(_NAMESPACE, f"{str(unit_id).lower()}/{position_code}"))


def _unit_slug(name: str) -> str:
    words = fold(nfc(name)).lower().split()
    text = " ".join(words)
    for group in (_BODY_WORDS, _LEVEL_WORDS):
        for word in group:
            if text.startswith(word + " "):
                text = text[len(word) + 1 :]
                break
    slug = _NOT_ALNUM.sub("", text)
    if not slug or slug.isdigit():  # "Phường 1": the number alone says nothing
        slug = _NOT_ALNUM.sub("", " ".join(words))
    return slug or "donvi"


def seat_uid_base(prefix: str, unit_name: str) -> str:
    """``<prefix>.<unit name folded, without its type words>``, fit to an identifier:
    ("chutich", "Xã Bản Lang") → "chutich.banlang"; ("chutich", "Phường 1") →
    "chutich.phuong1". The caller numbers it on collision (allocate_identifier)."""
    slug = _unit_slug(unit_name)
    if slug[0].isdigit():
        slug = f"u{slug}"
    return f"{prefix}.{slug}"[:MAX_IDENTIFIER_LENGTH].rstrip(".")


@dataclass(frozen=True, slots=True)
class SeatSnapshot:
    """A seat as policy needs it. `holders`: uids of the people holding the post today
    (primary or concurrent, with an active account); `uid` was allocated once."""

    id: str
    uid: str
    unit: UnitSnapshot
    position_code: str
    position_name: str
    holders: tuple[str, ...]
    today: dt.date


def seat_container(rules: Rules, base_dn: str) -> Container:
    name = child_dn("ou", rules.seats.ou, base_dn)
    return Container(
        name,
        unit_id="",
        attributes={
            "objectClass": ("organizationalUnit",),
            "ou": (rules.seats.ou,),
            "description": ("Seat mailboxes (hộp thư theo chức danh)",),
        },
    )


def desired_seat(seat: SeatSnapshot, rules: Rules, *, base_dn: str) -> DesiredAccount:
    """What the directory holds for a seat: enabled while its unit is active and has a
    mail domain; otherwise disabled (kept: its mail is history, never deleted here)."""
    container = seat_container(rules, base_dn)
    domain = (seat.unit.mail_domain or "").strip().lower()
    label = nfc(f"{seat.position_name} – {seat.unit.name}")
    reasons = []
    if not seat.unit.active:
        state = AccountState.DISABLED
        reasons.append(f"disabled: unit {seat.unit.code} is no longer active")
    elif not domain:
        state = AccountState.DISABLED
        reasons.append(f"disabled: unit {seat.unit.code} has no mail domain")
    else:
        state = AccountState.ENABLED
        held = ", ".join(seat.holders) if seat.holders else "nobody (vacant)"
        reasons.append(f"enabled: seat of {seat.position_code} in {seat.unit.code}, held by {held}")
    quota = rules.seats.quota
    attributes: dict[str, tuple[str, ...]] = {
        "objectClass": SEAT_OBJECT_CLASSES,
        "uid": (seat.uid,),
        "cn": (label,),
        "sn": (nfc(seat.position_name),),
        "displayName": (label,),
        "title": (nfc(seat.position_name),),
        "ou": (nfc(seat.unit.name),),
        "departmentNumber": (seat.unit.code,),
        "mail": (f"{seat.uid}@{domain}",) if domain else (),
        "idhubSeatId": (seat.id,),
        "idhubMailbox": (mailbox_location(seat.id),),
        "idhubMailQuota": (str(rules.quota_bytes(quota)),) if quota else (),
        "idhubAccountStatus": ("active" if state is AccountState.ENABLED else "disabled",),
        "idhubManaged": ("TRUE",),
    }
    return DesiredAccount(
        person_id=seat.id,
        state=state,
        name=child_dn("uid", seat.uid, container.name),
        attributes=attributes,
        groups=frozenset(),
        containers=(container,),
        quota_class=quota,
        reasons=tuple(reasons),
    )
