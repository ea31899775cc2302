"""How the hub's objects look in the directory: the key attribute of each kind, the
attributes never copied out, and the conversion of entries to and from Accounts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeAlias

import ldap.filter

from connectors.base import Account, AccountKey, InvalidData, KeyKind
from connectors.dn import normalize_dn

Entry: TypeAlias = dict[str, list[bytes]]
Decoded: TypeAlias = dict[str, tuple[str, tuple[str, ...]]]  # folded name → (name, values)
Encoded: TypeAlias = list[tuple[str, list[bytes]]]

MEMBER_ATTRIBUTE = "idhubMemberOf"
"""On a member entry: the DNs of the hub groups it belongs to."""

# How each kind of key is found: (structural/auxiliary class, key attribute).
KEY_LOOKUP: dict[KeyKind, tuple[str, str]] = {
    KeyKind.PERSON: ("idhubPerson", "idhubPersonId"),
    KeyKind.UNIT: ("idhubOrgUnit", "idhubUnitId"),
    KeyKind.GROUP: ("idhubGroup", "cn"),
    KeyKind.SEAT: ("idhubSeat", "idhubSeatId"),
}

# Never copied into an Account: hashes have no business in plans, previews or logs.
# Memberships are returned as Account.groups; memberOf (dynlist's view) is never read.
_HIDDEN_ATTRIBUTES = frozenset({"userpassword", "memberof", MEMBER_ATTRIBUTE.casefold()})


def key_filter(key: AccountKey) -> str:
    """The filter term matching the key attribute of `key` (value escaped)."""
    _, attribute = KEY_LOOKUP[key.kind]
    return f"({attribute}={ldap.filter.escape_filter_chars(key.id)})"


def decode(entry: Entry) -> Decoded:
    """casefolded name → (name as returned, UTF-8 values); undecodable values
    (photos, certificates) are left out: the hub manages text only."""
    decoded: Decoded = {}
    for name, raw_values in entry.items():
        try:
            values = tuple(value.decode("utf-8") for value in raw_values)
        except UnicodeDecodeError:
            continue
        decoded[name.casefold()] = (name, values)
    return decoded


def encode(attributes: Iterable[tuple[str, Sequence[str]]]) -> Encoded:
    """An entry for add_s: UTF-8 values, attributes without values left out."""
    return [(name, [v.encode("utf-8") for v in values]) for name, values in attributes if values]


def to_account(
    connector: str, dn: str, decoded: Decoded, kind: KeyKind, key: AccountKey | None = None
) -> Account:
    """An Account from a decoded entry (its key from the key attribute unless given); a
    person's or seat's groups from idhubMemberOf, normalised."""
    attributes = {
        name: values
        for folded, (name, values) in decoded.items()
        if folded not in _HIDDEN_ATTRIBUTES
    }
    groups: frozenset[str] | None = None
    if kind in (KeyKind.PERSON, KeyKind.SEAT):
        member_of = decoded.get(MEMBER_ATTRIBUTE.casefold(), (MEMBER_ATTRIBUTE, ()))[1]
        groups = frozenset(normalize_dn(group) for group in member_of)
    if key is None:
        _, key_attribute = KEY_LOOKUP[kind]
        values = decoded.get(key_attribute.casefold(), (key_attribute, ()))[1]
        if not values:
            raise InvalidData(f"{connector}: {dn} has no {key_attribute}")
        key = AccountKey(values[0], kind)
    return Account(key, dn, attributes, groups)
