"""People's passwords: argon2id (argon2-cffi) and the password rules.

The same PHC string reaches the person's LDAP entry as `{ARGON2}<phc>` (slapd's argon2
module verifies it) on the converge path: `credentials.mark_directory_password` queues
it, the directory target writes it with the person's converge (engine/targets/
passwords.py), retried until it lands; mail and other directory-bound services then
accept the password set at the hub, and no longer the old one.

The rules (`check_password_rules`, the same for activation, reset and the person's own
change at /account/password), after OWASP ASVS 4.0 §2.1 and NIST SP 800-63B §5.1.1.2:
- at least `sso.password_min_length` characters (12), counted after NFC; no composition
  rules, so a passphrase of several ordinary words ("núi cao sông dài") is the easy way
  to a good password; any character allowed, spaces included;
- none of the person's own names (each word of three letters or more) nor the username,
  compared folded (no diacritics, đ→d, lower case), anywhere in the password;
- not common or guessable: zxcvbn (the `zxcvbn` package, pinned) estimates the guesses
  from its frequency lists (30,000 common and breached passwords, names, words), keyboard
  patterns, dates and repeats, with the person's names as extra words; a score below 3
  (fewer than 10^8 guesses) is refused ("common"). Only the first 100 characters are
  scored (zxcvbn's own advice: the cost grows with the length).
"""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idhub.errors import Invalid
from idhub.models import Person
from idhub.oidc.settings import SsoSettings
from provisioning.naming import fold

MIN_SCORE = 3  # zxcvbn: ≥ 10^8 guesses
_SCORED_CHARS = 100

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
    elif len(password) >= settings.password_min_length and guessable(password, sorted(names)):
        problems.append("common")
    if problems:
        raise Invalid("The password does not meet the rules.", details={"password": problems})


def guessable(password: str, own_words: list[str] | None = None) -> bool:
    """True when zxcvbn scores the password below `MIN_SCORE` (common, breached, a
    keyboard walk, a word and a year...). Its lists are English-centred, so a Vietnamese
    passphrase is also checked folded (no diacritics), the form people type on a phone."""
    from zxcvbn import zxcvbn  # imported on first use: its lists take a moment to load

    text = unicodedata.normalize("NFC", password)[:_SCORED_CHARS]
    inputs = list(own_words or [])
    folded = fold(text)
    return any(
        zxcvbn(candidate, user_inputs=inputs)["score"] < MIN_SCORE
        for candidate in dict.fromkeys([text, folded])
    )
