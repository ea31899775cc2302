"""Distinguished names (RFC 4514): build them safely, compare them reliably.

Every value that goes into a DN goes through :func:`escape_rdn_value` (python-ldap's
``ldap.dn.escape_dn_chars``, plus hex escapes for control characters and for white
space at either end), so unit codes or names with commas, plus signs, quotes,
backslashes, ``#``, ``=`` or leading/trailing spaces cannot change a DN's structure,
and parsing a built DN gives back exactly the values put in.

DNs are compared through :func:`normalize_dn`: parsed, attribute types and values
case-folded (all the naming attributes the hub uses, uid/ou/cn/dc, match
case-insensitively), values NFC-normalised, the attribute-value pairs of a multi-valued
RDN sorted, and re-joined with one escaping (:func:`escape_rdn_value`). Two DNs that name the
same entry for the directory normalise to the same string, whatever their case or
escaping (``\\2C`` vs ``\\,``, hex-escaped UTF-8 vs the letters themselves).

Pure functions: python-ldap's DN helpers only (no connection, no network).
"""

from __future__ import annotations

import functools
import unicodedata

import ldap
import ldap.dn

__all__ = [
    "child_dn",
    "escape_rdn_value",
    "normalize_dn",
    "parent_dn",
    "rdn",
    "rdn_of",
    "rdn_value",
    "same_dn",
    "split_dn",
]

_AVA = tuple[str, str, int]


# The same few values (unit codes, group names, the base DN) recur for every person of a
# batch: caching these pure functions halves the planner's time.
@functools.lru_cache(maxsize=65536)
def escape_rdn_value(value: str) -> str:
    """Escape one attribute value for use in an RDN (RFC 4514 §2.4).

    "Sở Nội vụ, Tổ 1" → "Sở Nội vụ\\, Tổ 1"; a leading ``#`` or space and a trailing
    space are escaped as well. Non-ASCII letters are kept as they are (UTF-8).
    Raises ValueError for an empty value: an RDN needs one.
    """
    if not value:
        raise ValueError("an RDN value must not be empty")
    last = len(value) - 1
    out: list[str] = []
    for i, ch in enumerate(value):
        edge = i in (0, last)
        if unicodedata.category(ch)[0] == "C" or (edge and ch.isspace() and ch != " "):
            # Control characters, and white space other than " " at either end (which
            # OpenLDAP's parser would drop), become hex pairs.
            out.append("".join(f"\\{b:02X}" for b in ch.encode("utf-8")))
        elif ch == " ":
            out.append("\\ " if edge else ch)
        elif ch == "#":
            out.append("\\#" if i == 0 else ch)
        else:
            out.append(str(ldap.dn.escape_dn_chars(ch)))
    return "".join(out)


def rdn(attr: str, value: str) -> str:
    """One RDN: ``rdn("ou", "A,B")`` → ``"ou=A\\,B"``."""
    if not attr or not attr.replace("-", "").isalnum() or not attr[0].isalpha():
        raise ValueError(f"not an attribute type: {attr!r}")
    return f"{attr}={escape_rdn_value(value)}"


def child_dn(attr: str, value: str, parent: str) -> str:
    """The DN of the entry named ``attr=value`` directly below ``parent``
    (``parent`` may be "" for a DN of one RDN)."""
    child = rdn(attr, value)
    return f"{child},{parent}" if parent else child


def split_dn(dn: str) -> list[list[_AVA]]:
    """Parse a DN into RDNs of (type, value, flags) with python-ldap's str2dn;
    ValueError for a malformed DN."""
    try:
        parsed: list[list[_AVA]] = ldap.dn.str2dn(dn)
    except ldap.DECODING_ERROR:
        raise ValueError(f"not a valid DN: {dn!r}") from None
    return parsed


def _join(rdns: list[list[_AVA]]) -> str:
    """Inverse of split_dn (ldap.dn.dn2str, with this module's escaping)."""
    return ",".join(
        "+".join(f"{attr}={escape_rdn_value(value) if value else ''}" for attr, value, _ in one)
        for one in rdns
    )


def _fold(value: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())


def _first_and_rest(dn: str) -> tuple[list[list[_AVA]], str] | None:
    """The first RDN (parsed) and the rest, when the first comma surely ends the first
    RDN (no escape or quote before it): then the first RDN is parsed alone and the rest,
    which the people of one unit share, comes from a cache."""
    head, comma, rest = dn.partition(",")
    if not comma or not rest.strip() or any(c in head for c in '\\";'):
        return None
    try:
        first = split_dn(head)
    except ValueError:
        return None  # the whole DN is parsed, and refused, the usual way
    return (first, rest) if len(first) == 1 else None


def _folded(rdns: list[list[_AVA]]) -> str:
    return _join(
        [
            sorted((attr.casefold(), _fold(value or ""), 1) for attr, value, _flags in one_rdn)
            for one_rdn in rdns
        ]
    )


@functools.lru_cache(maxsize=65536)
def normalize_dn(dn: str) -> str:
    """The canonical form used to compare DNs: case-folded types and values, NFC,
    multi-valued RDNs sorted, re-escaped by :func:`escape_rdn_value`.

    ``normalize_dn("UID=A\\,b,OU=X,dc=Y") == normalize_dn("uid=a\\,B,ou=x,dc=y")``.
    Only for comparing and as a set/dict key: never write the result to the
    directory (it has lost the case the entry should show).
    """
    split = _first_and_rest(dn)
    if split is not None:
        return f"{_folded(split[0])},{normalize_dn(split[1])}"
    return _folded(split_dn(dn))


def same_dn(a: str, b: str) -> bool:
    """True if both DNs name the same entry (see :func:`normalize_dn`)."""
    return normalize_dn(a) == normalize_dn(b)


@functools.lru_cache(maxsize=65536)  # a plan asks this of the same DNs often
def parent_dn(dn: str) -> str:
    """The DN without its first RDN ("" for a DN of one RDN)."""
    split = _first_and_rest(dn)
    if split is not None:
        return _reescaped(split[1])
    return _join(split_dn(dn)[1:])


@functools.lru_cache(maxsize=65536)
def _reescaped(dn: str) -> str:
    return _join(split_dn(dn))


@functools.lru_cache(maxsize=65536)  # a plan asks this of the same DNs often
def rdn_of(dn: str) -> str:
    """The first RDN of a DN, re-escaped: ``rdn_of("uid=a\\2Cb,ou=x")`` → ``"uid=a\\,b"``."""
    parsed = split_dn(dn)
    if not parsed:
        raise ValueError("the empty DN has no RDN")
    return _join(parsed[:1])


@functools.lru_cache(maxsize=65536)  # a plan asks this of the same DNs often
def rdn_value(dn: str) -> str:
    """The (unescaped) value of the first RDN's first attribute: "ou=A\\,B,dc=x" → "A,B";
    "" for the empty DN."""
    parsed = split_dn(dn)
    if not parsed:
        return ""
    return parsed[0][0][1] or ""
