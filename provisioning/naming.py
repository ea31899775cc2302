"""Vietnamese names → ASCII identifiers (uid, mail local part) and search keys.

Pure functions only: no database, no network, no I/O.

Identifiers
===========

An identifier is lower-case ASCII: one or more segments of ``[a-z0-9]`` joined by
single dots, starting with a letter, at most ``MAX_IDENTIFIER_LENGTH`` (32)
characters; see :func:`is_valid_identifier`. It serves as LDAP ``uid`` and mail
local part.

:func:`identifier_base` turns a name (family name / họ, middle name / tên đệm,
given name / tên) into a *base*; :func:`allocate_identifier` turns a base into an
identifier nobody has had yet.

Patterns (``identifier_base(..., pattern=...)``), shown for "Nguyễn Văn An" and
"Đặng Thị Ngọc Ánh":

- ``given.familyinitials`` (default, the usual Vietnamese convention):
  ``annv``, ``anhdtn``
- ``given.initials``: ``an.nv``, ``anh.dtn``
- ``given.family``: ``an.nguyen``, ``anh.dang``
- ``family.given``: ``nguyen.an``, ``dang.anh``
- ``family.middle.given``: ``nguyen.van.an``, ``dang.thi.ngoc.anh``

"initials" are the first letters of every word of the family name, then of every
word of the middle name. A given name of several words is written as one
(given "Thanh Hà" → ``thanhha``). If the given name has no usable letters, the last
word of the middle name (or, failing that, of the family name) takes its place, so
a full name typed into the family field still gives ``annv``.

Folding: each part is NFKC-normalised (so NFC and NFD input, full-width letters and
ligatures all give the same result), đ/Đ (and the look-alike ð/Ð) become d, a few
Latin letters without a decomposition are transliterated (ø → o, æ → ae, ß → ss, …),
diacritics are removed and the rest is lower-cased. Apostrophes, zero-width and
other format characters, and letters that do not fold to ASCII (Cyrillic, Han, …)
are dropped without splitting the word ("O'Brien" → ``obrien``); white space,
hyphens, other punctuation, symbols and digits separate words ("Nguyễn-Trần" has
the initials ``nt``). Digits never appear in a base built from a name, so a
trailing number always comes from :func:`allocate_identifier`.

Truncation: if the result is longer than the limit, the longest segment (or, for
``given.familyinitials``, the longer of given name and initials) is shortened one
character at a time, so every part keeps at least its first letter while it can
(with absurdly many words, inner words are dropped; the given name is kept).

Fallback: if no part of the name has a usable letter (empty, digits only, another
script), the base is ``"u"`` followed by the first 8 hex digits of the SHA-256 of
the NFKC-normalised, case-folded name (white space collapsed): deterministic and
stable across processes and releases, and it does not pile everybody with a
non-Latin name onto ``user``, ``user2``, … . It can contain digits.

Uniqueness: :func:`allocate_identifier` returns the base if it is free, otherwise
the base followed by 2, 3, … (the first free one). The caller's ``is_taken``
predicate must report every identifier ever issued — including those of people
who have left — so that an identifier is never reissued. Words of
``RESERVED_WORDS`` (admin, root, postmaster, …) are never issued to a person:
someone whose base is ``admin`` gets ``admin2``.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable

__all__ = [
    "DEFAULT_PATTERN",
    "MAX_IDENTIFIER_LENGTH",
    "PATTERNS",
    "RESERVED_WORDS",
    "IdentifierExhaustedError",
    "allocate_identifier",
    "fold",
    "identifier_base",
    "is_valid_identifier",
    "nfc",
    "numbered_identifier",
    "search_key",
]

# NFD splits "ế" into "e" + marks, but đ/Đ are letters of their own, not d + a mark.
_EXTRA_FOLDS = str.maketrans({"đ": "d", "Đ": "D"})
_SPACES = re.compile(r"\s+")


def nfc(value: str) -> str:
    """NFC-normalise and collapse runs of white space; every stored name goes through this."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def fold(value: str) -> str:
    """Remove diacritics and map đ → d: "Đặng Thị Ánh" → "Dang Thi Anh"."""
    decomposed = unicodedata.normalize("NFD", value.translate(_EXTRA_FOLDS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def search_key(value: str) -> str:
    """Lower-case folded form used for accent-insensitive search."""
    return fold(nfc(value)).casefold()


# --------------------------------------------------------------------------- identifiers

MAX_IDENTIFIER_LENGTH = 32
"""Default (and usual) upper bound on the length of an identifier."""

_MIN_MAX_LENGTH = 8  # smallest max_length accepted: room for a stem and a number
_MAX_MAX_LENGTH = 64  # RFC 5321 limit of a mail local part

DEFAULT_PATTERN = "given.familyinitials"

RESERVED_WORDS: frozenset[str] = frozenset(
    {
        # RFC 2142 and mail-system addresses
        "abuse", "hostmaster", "postmaster", "webmaster", "mailerdaemon", "mailer",
        "noreply", "donotreply", "bounce", "bounces", "listserv", "majordomo",
        "info", "support", "security", "marketing", "sales", "noc", "usenet", "news",
        "uucp", "ftp", "www",
        # system and privileged accounts
        "admin", "administrator", "root", "sysadmin", "system", "daemon", "nobody",
        "operator", "guest", "anonymous", "ssladmin", "ldap", "mail", "idhub",
        "helpdesk", "help", "test", "staff", "api", "auth", "sso", "oauth",
        "privacy", "billing", "contact",
        # Vietnamese shared mailboxes of an agency
        "vanthu", "hotro", "lienhe", "tiepdan", "quantri", "lanhdao", "thongbao",
    }
)  # fmt: skip
"""Never issued to a person; :func:`allocate_identifier` moves on to the numbered form."""

_IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(?:\.[a-z0-9]+)*")

# Removed without splitting the word: O'Brien → obrien.
_APOSTROPHES = str.maketrans(dict.fromkeys("'`ʹʻʼʽˈ‘’‛′", None))
# Latin letters with no canonical decomposition. ð/Ð look exactly like đ/Đ.
_TRANSLIT = str.maketrans(
    {
        "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L",
        "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ß": "ss", "ẞ": "SS",
        "þ": "th", "Þ": "TH", "ı": "i", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T",
    }
)  # fmt: skip


class IdentifierExhaustedError(RuntimeError):
    """No free identifier was found within the allowed number of attempts."""


def _words(part: str) -> list[str]:
    """The ASCII words of one name part: "Đặng-Trần  O'Brien" → ["dang", "tran", "obrien"]."""
    return list(_folded_words(part))  # a new list: callers may take words from it


@functools.lru_cache(maxsize=8192)  # name parts repeat a lot: Nguyễn, Văn, Thị, An…
def _folded_words(part: str) -> tuple[str, ...]:
    # After NFKC, which turns e.g. U+FF07 into ' (and ´ into space + accent, a separator).
    text = unicodedata.normalize("NFKC", part).translate(_APOSTROPHES).translate(_TRANSLIT)
    words: list[str] = []
    current: list[str] = []
    for ch in unicodedata.normalize("NFKD", text):
        if ch.isascii() and ch.isalpha():
            current.append(ch.lower())
        elif unicodedata.category(ch)[0] in "LMC" and not ch.isspace():
            continue  # letters of other scripts, marks, format/control chars: dropped
        elif current:  # space, punctuation, symbol, digit: ends the word
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return tuple(words)


def _fit(pieces: list[str], sep: str, limit: int) -> str:
    """Join non-empty pieces with sep, shortening the longest piece until it fits."""
    pieces = [p[:limit] for p in pieces if p]
    most = (limit + len(sep)) // (1 + len(sep))  # more cannot fit even at one letter each
    if len(pieces) > most:
        pieces = pieces[: most - 1] + pieces[-1:]
    lengths = [len(p) for p in pieces]
    total = sum(lengths) + len(sep) * (len(pieces) - 1)
    while total > limit:
        longest = max(range(len(lengths)), key=lengths.__getitem__)
        if lengths[longest] <= 1:
            break
        lengths[longest] -= 1
        total -= 1
    return sep.join(p[:n] for p, n in zip(pieces, lengths, strict=True))[:limit].strip(".")


def _initials(words: Iterable[str]) -> str:
    return "".join(w[0] for w in words)


def _given_familyinitials(family: list[str], middle: list[str], given: list[str], n: int) -> str:
    return _fit(["".join(given), _initials(family + middle)], "", n)


def _given_initials(family: list[str], middle: list[str], given: list[str], n: int) -> str:
    return _fit(["".join(given), _initials(family + middle)], ".", n)


def _given_family(family: list[str], middle: list[str], given: list[str], n: int) -> str:
    return _fit(["".join(given), "".join(family)], ".", n)


def _family_given(family: list[str], middle: list[str], given: list[str], n: int) -> str:
    return _fit(["".join(family), "".join(given)], ".", n)


def _family_middle_given(family: list[str], middle: list[str], given: list[str], n: int) -> str:
    return _fit(family + middle + given, ".", n)


_Builder = Callable[[list[str], list[str], list[str], int], str]

_BUILDERS: dict[str, _Builder] = {
    "given.familyinitials": _given_familyinitials,
    "given.initials": _given_initials,
    "given.family": _given_family,
    "family.given": _family_given,
    "family.middle.given": _family_middle_given,
}

PATTERNS: tuple[str, ...] = tuple(_BUILDERS)
"""Known pattern names, default first."""


def _check_max_length(max_length: int) -> None:
    if not _MIN_MAX_LENGTH <= max_length <= _MAX_MAX_LENGTH:
        raise ValueError(
            f"max_length must be between {_MIN_MAX_LENGTH} and {_MAX_MAX_LENGTH}, got {max_length}"
        )


def _fallback(family: str, middle: str, given: str, max_length: int) -> str:
    key = "\x1f".join(
        unicodedata.normalize("NFKC", nfc(unicodedata.normalize("NFKC", p)).casefold())
        for p in (family, middle, given)
    )
    return ("u" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:8])[:max_length]


def identifier_base(
    family: str,
    middle: str,
    given: str,
    pattern: str = DEFAULT_PATTERN,
    *,
    max_length: int = MAX_IDENTIFIER_LENGTH,
) -> str:
    """The identifier a name asks for, before uniqueness: "Nguyễn", "Văn", "An" → "annv".

    Always a valid identifier (see :func:`is_valid_identifier`) of at most
    ``max_length`` characters; see the module docstring for patterns, folding,
    truncation and the fallback for names without usable letters.

    Raises ValueError for an unknown pattern or a max_length outside 8..64.
    """
    try:
        build = _BUILDERS[pattern]
    except KeyError:
        raise ValueError(
            f"unknown identifier pattern {pattern!r}; known patterns: {', '.join(PATTERNS)}"
        ) from None
    _check_max_length(max_length)
    family_w, middle_w, given_w = _words(family), _words(middle), _words(given)
    if not given_w:  # borrow the last word of the middle, else of the family name
        if middle_w:
            given_w = [middle_w.pop()]
        elif family_w:
            given_w = [family_w.pop()]
        else:
            return _fallback(family, middle, given, max_length)
    return build(family_w, middle_w, given_w, max_length)


def is_valid_identifier(value: object, *, max_length: int = MAX_IDENTIFIER_LENGTH) -> bool:
    """True for a lower-case ASCII identifier: letter first, ``[a-z0-9]`` segments joined
    by single dots, no leading/trailing dot, at most max_length characters.

    Purely syntactic: reserved words such as "admin" are valid identifiers (for
    service accounts); :func:`allocate_identifier` is what keeps them from people.
    """
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and _IDENTIFIER.fullmatch(value) is not None
    )


def numbered_identifier(base: str, n: int, max_length: int = MAX_IDENTIFIER_LENGTH) -> str:
    """Candidate number `n` of `base`: the base itself for 1, else base + n, the base
    shortened to make room when that would exceed ``max_length`` ("…abc" → "…ab12")."""
    if n == 1:
        return base
    suffix = str(n)
    return base[: max_length - len(suffix)].rstrip(".") + suffix


def allocate_identifier(
    base: str,
    is_taken: Callable[[str], bool],
    *,
    reserved_words: Collection[str] = RESERVED_WORDS,
    max_length: int = MAX_IDENTIFIER_LENGTH,
    max_attempts: int = 100_000,
    start: int = 1,
) -> str:
    """The first free identifier among base, base2, base3, …

    ``is_taken(candidate)`` must be true for every identifier that is in use *or was
    ever issued* (reserved after its owner left), so nothing is ever reissued; it is
    called lazily, in order, so it may query a database. A set works as
    ``taken.__contains__``. Candidates in ``reserved_words`` are skipped as if taken.
    If base + number would exceed ``max_length``, the base is shortened to make room
    ("…abc" → "…ab12"), so the result is always a valid identifier. ``start`` says the
    caller already knows the candidates numbered below it are taken (it saves asking
    about each of many namesakes again).

    Raises ValueError if base is not a valid identifier, IdentifierExhaustedError if
    nothing is free within max_attempts candidates.
    """
    _check_max_length(max_length)
    if not is_valid_identifier(base, max_length=max_length):
        raise ValueError(f"not a valid identifier: {base!r}")
    for n in range(max(start, 1), max_attempts + 1):
        candidate = numbered_identifier(base, n, max_length)
        if candidate not in reserved_words and not is_taken(candidate):
            return candidate
    raise IdentifierExhaustedError(f"no free identifier for {base!r} in {max_attempts} attempts")
