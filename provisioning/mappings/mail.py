"""Mail mapping: address, mailbox, quota bytes, aliases and a leaver's forward or bounce.

For every account with an address, i.e. whose unit or a parent has a mail domain:

* ``mail`` = <uid>@<domain of the placement unit> (a leaver: of the last post's unit, so
  forwarding can be set during retention);
* ``idhubMailbox`` = :func:`mailbox_location` of the immutable person key, never of a
  name or address, so a reused address never shows a previous owner's mail;
* ``idhubMailQuota`` = the bytes of the quota class (enabled accounts only: a disabled
  account keeps its quota, no churn);
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
import re
from collections.abc import Iterable

from provisioning.attributes import nfc
from provisioning.mappings.lifecycle import Lifecycle
from provisioning.model import AccountState, PastAddress, PersonSnapshot, UnitSnapshot
from provisioning.naming import fold
from provisioning.rules import Rules

__all__ = ["RANGE", "mail", "mailbox_location"]

RANGE = (
    "mail", "idhubMailbox", "idhubMailQuota", "idhubMailAlias", "idhubMailForward",
    "idhubMailBounce",
)  # fmt: skip

Attributes = dict[str, tuple[str, ...]]

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


def mailbox_location(person_id: str) -> str:
    """Where a person's mailbox lives below the mail root: ``<2 chars>/<person key>``
    (lower case), from the immutable key only. ValueError for a key that is not a safe
    path component (the hub's keys are UUIDs)."""
    if not _KEY.fullmatch(person_id):
        raise ValueError(f"person key {person_id!r} cannot name a mailbox")
    key = person_id.lower()
    return f"{key[:2]}/{key}"


def mail(
    person: PersonSnapshot, username: str, rules: Rules, life: Lifecycle, quota: str | None
) -> tuple[Attributes, list[str]]:
    """The mail attributes of an account that exists, and why; `quota` is its class."""
    enabled = life.state is AccountState.ENABLED
    unit = life.mail_unit
    if unit is None or not unit.mail_domain:
        out: Attributes = {
            "mail": (),
            "idhubMailbox": (),
            "idhubMailAlias": (),
            "idhubMailForward": (),
            "idhubMailBounce": (),
        }
        if enabled:
            out["idhubMailQuota"] = ()
        return out, []

    primary = nfc(f"{username}@{unit.mail_domain.strip().lower()}")
    aliases, reasons = _aliases(person.addresses, primary, rules, person.today)
    out = {
        "mail": (primary,),
        "idhubMailbox": (mailbox_location(person.id),),
        "idhubMailAlias": aliases,
        "idhubMailForward": (),
        "idhubMailBounce": (),
    }
    if enabled:
        out["idhubMailQuota"] = (str(rules.quota_bytes(quota)),) if quota is not None else ()
    if life.left_on is not None:
        leaver, why = _leaver_mail(person, rules, primary, unit, life.left_on)
        out.update(leaver)
        reasons.append(why)
    return out, reasons


def _aliases(
    addresses: Iterable[PastAddress], primary: str, rules: Rules, today: dt.date
) -> tuple[tuple[str, ...], list[str]]:
    """Earlier addresses that still deliver, and why."""
    keep_days = dt.timedelta(days=rules.mail.old_address_days)
    floor = rules.mail.old_addresses_until
    kept: dict[str, str] = {}
    for past in addresses:
        address = nfc(past.address).lower()
        if not address or address == primary:
            continue
        superseded = past.superseded_on or today
        until = superseded + keep_days
        if floor is not None and floor > until:
            until = floor
        if today <= until:
            kept[address] = f"old address {address} kept as an alias until {until.isoformat()}"
    ordered = sorted(kept)
    return tuple(ordered), [kept[a] for a in ordered]


def _leaver_mail(
    person: PersonSnapshot,
    rules: Rules,
    primary: str,
    unit: UnitSnapshot,
    left: dt.date,
) -> tuple[Attributes, str]:
    """idhubMailForward or idhubMailBounce for a leaver within retention, and why."""
    mail = rules.mail
    until = left + dt.timedelta(days=min(mail.leaver_forward_days, rules.leaver.retention_days))
    if mail.leaver_action == "forward" and person.today <= until:
        for target in mail.leaver_forward_to:
            address: str | None = None
            if target == "successor" and person.successor_address:
                address = person.successor_address.strip().lower()
            elif target == "unit" and mail.unit_mailbox and unit.mail_domain:
                address = f"{mail.unit_mailbox}@{unit.mail_domain.strip().lower()}"
            if address and address != primary:
                return (
                    {"idhubMailForward": (address,), "idhubMailBounce": ()},
                    f"mail forwarded to the {target} {address} until {until.isoformat()}",
                )
    message = mail.leaver_bounce_message.format(
        name=nfc(person.full_name) or person.username, address=primary
    )
    ascii_message = fold(message).encode("ascii", "replace").decode().replace("?", " ")
    why = (
        f"mail refused with the leaver message (forwarding ended on {until.isoformat()})"
        if mail.leaver_action == "forward" and person.today > until
        else "mail refused with the leaver message"
        + (" (no successor or unit mailbox)" if mail.leaver_action == "forward" else "")
    )
    return {"idhubMailForward": (), "idhubMailBounce": (" ".join(ascii_message.split()),)}, why
