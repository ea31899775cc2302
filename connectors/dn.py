"""Distinguished names (RFC 4514) in plain Python: parse, escape, build, compare.

The one home of the hub's DN rules, shared by the provisioning core (which may import
no LDAP library) and the LDAP connector, so both compare DNs with the same
:func:`normalize_dn`.

Every value that goes into a DN goes through :func:`escape_rdn_value` (RFC 4514
escaping, plus hex escapes for control characters and for white space at either end),
so unit codes or names with commas, plus signs, quotes, backslashes, ``#``, ``=`` or
leading/trailing spaces cannot change a DN's structure, and parsing a built DN gives
back exactly the values put in.

DNs are compared through :func:`normalize_dn`: parsed, attribute types and values
case-folded (all the naming attributes the hub uses, uid/ou/cn/dc, match
case-insensitively), values NFC-normalised, the attribute-value pairs of a multi-valued
RDN sorted, and re-joined with one escaping (:func:`escape_rdn_value`). Two DNs that
name the same entry for the directory normalise to the same string, whatever their case
or escaping (``\\2C`` vs ``\\,``, hex-escaped UTF-8 vs the letters themselves).

:func:`str2dn`, :func:`dn2str` and :func:`escape_dn_chars` accept and produce what
python-ldap's ``ldap.dn`` functions of the same names do (libldap's lenient parser:
``;`` between RDNs, quoted values, ``#``-hex values), so DNs read from slapd parse here
exactly as they did there; ValueError stands for python-ldap's DECODING_ERROR.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = [
    "Ava",
    "DnKey",
    "child_dn",
    "cut_first_rdn",
    "dn2str",
    "dn_key",
    "equal_dns",
    "escape_dn_chars",
    "escape_rdn_value",
    "fold",
    "normalize_dn",
    "parent_dn",
    "rdn",
    "rdn_and_parent",
    "rdn_of",
    "rdn_value",
    "same_dn",
    "split_dn",
    "str2dn",
]

Ava = tuple[str, str, int]
"""(attribute type, value, flags): one attribute-value pair of an RDN, as python-ldap's
str2dn gives it (flags 1: a string, 2: a #hex value, 4: a string with non-printable
characters)."""

DnKey = tuple[tuple[tuple[str, str], ...], ...]

_STRING, _BINARY, _NONPRINTABLE = 1, 2, 4
_SPACES = " \t\n\r"
_HEX = frozenset("0123456789abcdefABCDEF")
_MAY_ESCAPE = frozenset('\\,;+"<>= \t\n\r#')  # a backslash may precede these
_DN_SPECIALS = frozenset('\\,+"<>;=')  # escaped with a backslash wherever they are

# Leading space, an attribute type (descr with options, which are dropped, or a
# numeric OID), "=" and the space before the value.
_TYPE = re.compile(
    r"[ \t\n\r]*(?:([A-Za-z][A-Za-z0-9-]*)(?:;[A-Za-z0-9;-]*)?|([0-9]+(?:\.[0-9]+)*))"
    r"[ \t\n\r]*=[ \t\n\r]*"
)
_RUN = re.compile(r'[^\\,;+"<>]*')  # a stretch of a string value with nothing to look at
_HEX_VALUE = re.compile(r"#((?:[0-9A-Fa-f]{2})+)")
_AFTER_VALUE = re.compile(r"[ \t\n\r]*")
# Most DNs have no escapes, quotes, #hex values or ";": their pairs are cut out at once.
_NOT_SIMPLE = re.compile(r'[\\"#<>;\x00]')
_SIMPLE_AVA = re.compile(
    r"[ \t\n\r]*([A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)*)[ \t\n\r]*=[ \t\n\r]*(.*)", re.DOTALL
)


def _refuse(dn: str) -> ValueError:
    return ValueError(f"not a valid DN: {dn!r}")


def _string_value(dn: str, start: int) -> tuple[str, int, int]:
    """A string value starting at `start`: (value, flags, index after it)."""
    flags = _STRING
    end = len(dn)
    i = start
    while True:
        run_end = _RUN.match(dn, i).end()  # type: ignore[union-attr]  # `*` always matches
        run = dn[i:run_end]
        if run and not (run.isascii() and run.isprintable()):
            flags = _NONPRINTABLE
        i = run_end
        if i == end or dn[i] in ",;+":
            break
        if dn[i] != "\\" or i + 1 == end:
            raise _refuse(dn)
        follower = dn[i + 1]
        if follower in _MAY_ESCAPE:
            i += 2
        elif follower in _HEX and i + 2 < end and dn[i + 2] in _HEX:
            if not 0x20 <= int(dn[i + 1 : i + 3], 16) <= 0x7E:
                flags = _NONPRINTABLE
            i += 3
        else:
            raise _refuse(dn)
    # Trailing white space is dropped unless escaped; libldap looks only at the one
    # character before it, so "x\\\\ " keeps its space, as it does there.
    stop = i
    while stop > start + 1 and dn[stop - 1] in _SPACES and dn[stop - 2] != "\\":
        stop -= 1
    return _unescape(dn, dn[start:stop]), flags, i


def _unescape(dn: str, raw: str) -> str:
    if "\\" not in raw:
        return raw
    out = bytearray()
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
        elif raw[i + 1] in _MAY_ESCAPE:
            out += raw[i + 1].encode("utf-8")
            i += 2
        else:
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(dn) from None


def _quoted_value(dn: str, start: int) -> tuple[str, int]:
    """A "quoted" value (LDAPv2 style) starting at the quote: (value, index after it).
    A backslash takes whatever character follows literally."""
    out: list[str] = []
    i = start + 1
    end = len(dn)
    while i < end:
        ch = dn[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            i += 1
            if i == end:
                break
            ch = dn[i]
        out.append(ch)
        i += 1
    raise _refuse(dn)


def _hex_value(dn: str, start: int) -> tuple[str, int]:
    """A #hex value (BER, taken as UTF-8 text): (value, index after it)."""
    found = _HEX_VALUE.match(dn, start)
    if found is None:
        raise _refuse(dn)
    try:
        return bytes.fromhex(found.group(1)).decode("utf-8"), found.end()
    except UnicodeDecodeError:
        raise _refuse(dn) from None


def _simple_dn(dn: str) -> list[list[Ava]] | None:
    """str2dn for a DN with nothing to unescape; None if it needs the full parser."""
    rdns: list[list[Ava]] = []
    for piece in dn.split(","):
        one: list[Ava] = []
        for pair in piece.split("+"):
            found = _SIMPLE_AVA.fullmatch(pair)
            if found is None:
                return None
            attr, raw = found.groups()
            flags = _STRING if raw.isascii() and raw.isprintable() else _NONPRINTABLE
            one.append((attr, raw.rstrip(_SPACES), flags))
        rdns.append(one)
    return rdns


def str2dn(dn: str) -> list[list[Ava]]:
    """Parse a DN into RDNs of (type, value, flags), as python-ldap's
    ``ldap.dn.str2dn(dn)`` does; ValueError for a malformed DN. "" gives []."""
    if not dn:
        return []
    if _NOT_SIMPLE.search(dn) is None:
        simple = _simple_dn(dn)
        if simple is not None:
            return simple
    if "\x00" in dn:
        raise _refuse(dn)
    rdns: list[list[Ava]] = []
    current: list[Ava] = []
    end = len(dn)
    i = 0
    while True:
        head = _TYPE.match(dn, i)
        if head is None:
            raise _refuse(dn)
        attr = head.group(1) or head.group(2)
        i = head.end()
        first = dn[i] if i < end else ""
        if first == "#":
            value, i = _hex_value(dn, i)
            flags = _BINARY
        elif first == '"':
            value, i = _quoted_value(dn, i)
            flags = _STRING
        else:
            value, flags, i = _string_value(dn, i)
        current.append((attr, value, flags))
        i = _AFTER_VALUE.match(dn, i).end()  # type: ignore[union-attr]  # `*` always matches
        if i == end:
            rdns.append(current)
            return rdns
        separator = dn[i]
        if separator in ",;":
            rdns.append(current)
            current = []
        elif separator != "+":
            raise _refuse(dn)
        i += 1
        if i == end:
            raise _refuse(dn)  # a separator must be followed by another pair


def escape_dn_chars(value: str) -> str:
    """RFC 4514 escaping of one value, as python-ldap's ``ldap.dn.escape_dn_chars``."""
    if not value:
        return value
    for special in '\\,+"<>;=':
        value = value.replace(special, "\\" + special)
    value = value.replace("\x00", "\\00")
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    if value[0] in "# ":
        value = "\\" + value
    return value


def dn2str(rdns: list[list[Ava]]) -> str:
    """The inverse of :func:`str2dn`, as python-ldap's ``ldap.dn.dn2str``."""
    return ",".join(
        "+".join(f"{attr}={escape_dn_chars(value or '')}" for attr, value, _ in one) for one in rdns
    )


# ---------------------------------------------------------------------- building


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
            out.append("\\" + ch if ch in _DN_SPECIALS else ch)
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


# ---------------------------------------------------------------------- reading


def split_dn(dn: str) -> list[list[Ava]]:
    """Parse a DN into RDNs of (type, value, flags); ValueError for a malformed DN."""
    return str2dn(dn)


def _join(rdns: list[list[Ava]]) -> str:
    """Inverse of split_dn, with this module's escaping."""
    return ",".join(
        "+".join(f"{attr}={escape_rdn_value(value) if value else ''}" for attr, value, _ in one)
        for one in rdns
    )


def fold(value: str) -> str:
    """A value as DN comparison sees it: case-folded and NFC."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).casefold())


def _first_and_rest(dn: str) -> tuple[list[list[Ava]], str] | None:
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


def _folded(rdns: list[list[Ava]]) -> str:
    return _join(
        [
            sorted((attr.casefold(), fold(value or ""), 1) for attr, value, _flags in one_rdn)
            for one_rdn in rdns
        ]
    )


@functools.lru_cache(maxsize=65536)
def normalize_dn(dn: str) -> str:
    """The canonical form used to compare DNs: case-folded types and values, NFC,
    multi-valued RDNs sorted, re-escaped by :func:`escape_rdn_value`.

    ``normalize_dn("UID=A\\,b,OU=X,dc=Y") == normalize_dn("uid=a\\,B,ou=x,dc=y")``.
    Only for comparing and as a set/dict key: never write the result to the
    directory (it has lost the case the entry should show). ValueError if malformed.
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
    parsed = _first_rdn(dn)
    if not parsed:
        raise ValueError("the empty DN has no RDN")
    return _join(parsed[:1])


@functools.lru_cache(maxsize=65536)  # a plan asks this of the same DNs often
def rdn_value(dn: str) -> str:
    """The (unescaped) value of the first RDN's first attribute: "ou=A\\,B,dc=x" → "A,B";
    "" for the empty DN."""
    parsed = _first_rdn(dn)
    if not parsed:
        return ""
    return parsed[0][0][1] or ""


def _first_rdn(dn: str) -> list[list[Ava]]:
    """split_dn(dn), or only its first RDN when the rest (checked through a cache) need
    not be parsed again."""
    split = _first_and_rest(dn)
    if split is not None:
        _reescaped(split[1])  # refuses a malformed rest, as parsing the whole DN would
        return split[0]
    return split_dn(dn)


# ---------------------------------------------------------------------- for the wire


def rdn_and_parent(dn: str) -> tuple[str, str]:
    """(first RDN, parent DN), both re-escaped as python-ldap's dn2str would; ValueError
    if malformed or empty."""
    parsed = str2dn(dn)
    if not parsed:
        raise ValueError("the empty DN has no RDN")
    return dn2str(parsed[:1]), dn2str(parsed[1:])


def cut_first_rdn(dn: str) -> tuple[str, str]:
    """(first RDN, parent DN) as written, cut at the first comma that is not escaped; no
    re-escaping, so the server sees exactly the DN's own spelling."""
    escaped = False
    for i, ch in enumerate(dn):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            return dn[:i], dn[i + 1 :]
    raise ValueError(f"{dn!r} has no parent")


def _key_of(rdns: list[list[Ava]]) -> DnKey:
    return tuple(
        tuple(sorted((attr.casefold(), fold(value or "")) for attr, value, _ in one_rdn))
        for one_rdn in rdns
    )


@functools.lru_cache(maxsize=65536)  # each DN of a batch is compared several times
def dn_key(dn: str) -> DnKey:
    """normalize_dn's equivalence without re-escaping (cheaper, for hot paths): RDNs of
    sorted (type, value) pairs, case-folded and NFC. ValueError if malformed."""
    split = _first_and_rest(dn)
    if split is not None:
        return _key_of(split[0]) + dn_key(split[1])
    return _key_of(split_dn(dn))


def equal_dns(a: str, b: str) -> bool:
    """True if both DNs parse and name the same entry; False if either is malformed."""
    try:
        return dn_key(a) == dn_key(b)
    except ValueError:
        return False
