"""People's passwords: argon2id (argon2-cffi), the password rules, and the directory copy.

The same PHC string is written to the person's LDAP entry as `{ARGON2}<phc>` (slapd's
argon2 module verifies it), through the LDAP connector's ordinary modify operation, so
mail and other directory-bound services accept the password set at the hub.
"""

from __future__ import annotations

import unicodedata
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from connectors.base import (
    AccountKey,
    AppliesOperations,
    ConnectorError,
    Operation,
    OpKind,
    ReadsAccounts,
)
from idhub.errors import Invalid
from idhub.models import Person
from idhub.oidc.settings import SsoSettings
from provisioning.naming import fold

_hashers: dict[tuple[int, int, int], PasswordHasher] = {}
# A hash to verify against when the account does not exist, so timing tells nothing.
_DUMMY: dict[tuple[int, int, int], str] = {}


def hasher(settings: SsoSettings) -> PasswordHasher:
    key = (settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)
    if key not in _hashers:
        _hashers[key] = PasswordHasher(time_cost=key[0], memory_cost=key[1], parallelism=key[2])
        _DUMMY[key] = _hashers[key].hash("not a password of anyone")
    return _hashers[key]


def hash_password(settings: SsoSettings, password: str) -> str:
    return hasher(settings).hash(unicodedata.normalize("NFC", password))


def verify_password(settings: SsoSettings, stored: str | None, password: str) -> bool:
    ph = hasher(settings)
    target = stored or _DUMMY[(ph.time_cost, ph.memory_cost, ph.parallelism)]
    try:
        ok = ph.verify(target, unicodedata.normalize("NFC", password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and stored is not None


def _folded_words(value: str) -> set[str]:
    return {w for w in fold(value).lower().split() if len(w) >= 3}


def check_password_rules(settings: SsoSettings, person: Person, password: str) -> None:
    """≥ min length, and none of the person's own names (diacritics folded) or username."""
    problems = []
    if len(password) < settings.password_min_length:
        problems.append("too_short")
    folded = fold(unicodedata.normalize("NFC", password)).lower()
    names = _folded_words(f"{person.family_name} {person.middle_name} {person.given_name}")
    if person.username and len(person.username) >= 3:
        names.add(person.username.lower())
    if any(name in folded for name in names):
        problems.append("contains_name")
    if problems:
        raise Invalid("The password does not meet the rules.", details={"password": problems})


def directory_password_operation(person_id: str, phc: str, dn: str | None) -> Operation:
    """The modify that puts the argon2 hash into the person's directory entry."""
    return Operation(
        kind=OpKind.MODIFY,
        target=AccountKey(person_id),
        attributes={"userPassword": ("{ARGON2}" + phc,)},
        reason="password set at the hub",
        current=dn,
    )


class PasswordDirectory(ReadsAccounts, AppliesOperations, Protocol):
    """What writing a password needs of the directory: find the entry, modify it."""


def write_directory_password(connector: PasswordDirectory, person_id: str, phc: str) -> str | None:
    """Write the hash to LDAP; returns an error text (None on success, or no entry yet)."""
    try:
        account = connector.read(AccountKey(person_id))
        if account is None:
            return "no directory entry yet"
        [result] = connector.apply([directory_password_operation(person_id, phc, account.name)])
    except ConnectorError as exc:
        return str(exc)
    return None if result.ok else str(result.error)
