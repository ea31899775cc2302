"""provisioning.naming: Vietnamese names → identifiers, uniqueness, reserved names."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from provisioning.naming import (
    DEFAULT_PATTERN,
    MAX_IDENTIFIER_LENGTH,
    PATTERNS,
    RESERVED_WORDS,
    IdentifierExhaustedError,
    allocate_identifier,
    fold,
    identifier_base,
    is_valid_identifier,
    nfc,
    numbered_identifier,
    search_key,
)

IDENTIFIER_RE = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*$")


def nfd(value: str) -> str:
    return unicodedata.normalize("NFD", value)


def taken_by(names: set[str]):
    return names.__contains__


# --------------------------------------------------------------------------- existing helpers


def test_fold_nfc_search_key_unchanged() -> None:
    assert fold("Đặng Thị Ánh") == "Dang Thi Anh"
    assert nfc("  Nguyễn \t Văn\n An ") == "Nguyễn Văn An"
    assert nfc(nfd("Nguyễn")) == "Nguyễn"
    assert search_key("ĐẶNG  Thị Ánh") == "dang thi anh"


# ------------------------------------------------------------------- identifier_base examples


@pytest.mark.parametrize(
    ("family", "middle", "given_name", "expected"),
    [
        ("Nguyễn", "Văn", "An", "annv"),
        ("Đặng", "Thị Ngọc", "Ánh", "anhdtn"),
        ("Nguyễn", "Thị Minh", "Khai", "khaintm"),
        ("Lò", "Văn", "Đức", "duclv"),
        ("Trần", "", "Hưng", "hungt"),  # no middle name
        ("Tôn Nữ", "Thị", "Hà", "hatnt"),  # two-word family name
        ("Phạm", "Thị", "Thanh Hà", "thanhhapt"),  # two-word given name
        ("Ưng", "Ơn", "Ửu", "uuuo"),  # ư/ơ fold to u/o
    ],
)
def test_default_pattern_examples(family: str, middle: str, given_name: str, expected: str) -> None:
    assert identifier_base(family, middle, given_name) == expected
    assert identifier_base(family, middle, given_name, DEFAULT_PATTERN) == expected


def test_upper_case_input() -> None:
    assert identifier_base("NGUYỄN", "VĂN", "AN") == "annv"
    assert identifier_base("ĐẶNG", "THỊ NGỌC", "ÁNH") == "anhdtn"
    assert identifier_base("nGuYỄn", "vĂN", "aN") == "annv"


def test_extra_and_odd_white_space() -> None:
    assert identifier_base("  Nguyễn  ", " Văn\t ", "\nAn  ") == "annv"
    assert identifier_base("Đặng", "Thị   Ngọc", "Ánh") == "anhdtn"
    assert identifier_base("Đặng", "Thị\u00a0Ngọc", "Ánh") == "anhdtn"  # no-break space
    assert identifier_base("Đặng", "Thị\u3000Ngọc", "Ánh") == "anhdtn"  # ideographic space


def test_nfd_input_gives_the_nfc_result() -> None:
    for family, middle, given_name in [
        ("Nguyễn", "Văn", "An"),
        ("Đặng", "Thị Ngọc", "Ánh"),
        ("Lò", "Văn", "Đức"),
    ]:
        composed = identifier_base(family, middle, given_name)
        assert identifier_base(nfd(family), nfd(middle), nfd(given_name)) == composed
        assert nfd(family) != family or nfd(given_name) != given_name


@pytest.mark.parametrize(
    ("family", "middle", "given_name", "expected"),
    [
        ("Đỗ", "Văn", "An", "andv"),  # family
        ("Nguyễn", "Đình", "An", "annd"),  # middle
        ("Nguyễn", "Văn", "Đạt", "datnv"),  # given, first letter
        ("Nguyễn", "Văn", "Ađ", "adnv"),  # given, last letter
        ("Nguyễn", "Văn", "ĐĐ", "ddnv"),  # upper case
        ("đỗ", "đình", "đức", "ducdd"),  # everywhere, lower case
        ("ĐỖ", "ĐÌNH", "ĐỨC", "ducdd"),  # everywhere, upper case
        ("Ðỗ", "Văn", "Ðức", "ducdv"),  # Icelandic eth Ð (U+00D0), the look-alike of Đ
    ],
)
def test_d_with_stroke_everywhere(family: str, middle: str, given_name: str, expected: str) -> None:
    assert identifier_base(family, middle, given_name) == expected


def test_hyphens_apostrophes_digits_and_other_scripts() -> None:
    assert identifier_base("Nguyễn-Trần", "Văn", "An") == "anntv"  # hyphen splits words
    assert identifier_base("O'Brien", "", "Seán") == "seano"  # apostrophe does not
    assert identifier_base("O’Brien", "", "Seán", "given.family") == "sean.obrien"
    assert identifier_base("Nguyễn", "Văn", "An2") == "annv"  # digits dropped
    assert identifier_base("Nguyễn", "Văn", "An李") == "annv"  # unfoldable letters dropped
    assert identifier_base("Nguyễn", "Văn\u200b", "A\u00adn") == "annv"  # format chars
    assert identifier_base("Ｎｇｕｙễｎ", "Ｖăｎ", "Ａｎ") == "annv"  # full-width letters


def test_missing_given_name_borrows_the_last_word() -> None:
    assert identifier_base("Nguyễn", "Văn", "") == "vann"
    assert identifier_base("Nguyễn Văn An", "", "") == "annv"  # whole name in one field
    assert identifier_base("Nguyễn", "Văn", "123") == "vann"
    assert identifier_base("", "", "An") == "an"


def test_nothing_usable_falls_back_to_a_stable_hash() -> None:
    empty = identifier_base("", "", "")
    han = identifier_base("李", "", "明")
    assert re.fullmatch(r"u[0-9a-f]{8}", empty)
    assert re.fullmatch(r"u[0-9a-f]{8}", han)
    assert empty != han
    assert identifier_base("李", "", "明") == han  # deterministic
    assert identifier_base(" 李 ", "", "明") == han  # white space does not matter
    assert identifier_base("123", "-", "!!!") != empty
    # a fixed value: must not change between releases (identifiers are stored)
    assert identifier_base("", "", "") == "ub8c9e440"
    for pattern in PATTERNS:
        assert identifier_base("李", "", "明", pattern) == han


# --------------------------------------------------------------------------- patterns


@pytest.mark.parametrize(
    ("pattern", "an", "anh"),
    [
        ("given.familyinitials", "annv", "anhdtn"),
        ("given.initials", "an.nv", "anh.dtn"),
        ("given.family", "an.nguyen", "anh.dang"),
        ("family.given", "nguyen.an", "dang.anh"),
        ("family.middle.given", "nguyen.van.an", "dang.thi.ngoc.anh"),
    ],
)
def test_patterns(pattern: str, an: str, anh: str) -> None:
    assert identifier_base("Nguyễn", "Văn", "An", pattern) == an
    assert identifier_base("Đặng", "Thị Ngọc", "Ánh", pattern=pattern) == anh


def test_patterns_are_all_tested_and_default_first() -> None:
    assert PATTERNS[0] == DEFAULT_PATTERN == "given.familyinitials"
    assert set(PATTERNS) == {
        "given.familyinitials",
        "given.initials",
        "given.family",
        "family.given",
        "family.middle.given",
    }


def test_patterns_without_middle_or_family() -> None:
    assert identifier_base("Trần", "", "Hưng", "family.middle.given") == "tran.hung"
    assert identifier_base("", "", "Hưng", "given.family") == "hung"
    assert identifier_base("", "", "Hưng", "given.initials") == "hung"


@pytest.mark.parametrize("pattern", ["", "given", "Given.Family", "firstname.lastname", "annv"])
def test_unknown_pattern_is_rejected_listing_the_known_ones(pattern: str) -> None:
    with pytest.raises(ValueError, match="unknown identifier pattern") as info:
        identifier_base("Nguyễn", "Văn", "An", pattern)
    for known in PATTERNS:
        assert known in str(info.value)


def test_unknown_pattern_is_rejected_even_for_an_empty_name() -> None:
    with pytest.raises(ValueError, match="given.familyinitials"):
        identifier_base("", "", "", "nope")


# --------------------------------------------------------------------------- length


def test_long_names_are_truncated_sensibly() -> None:
    long_given = "Abcdefghijklmnopqrstuvwxyzabcdefghij"  # 36 letters
    base = identifier_base("Nguyễn", "Văn", long_given)
    assert len(base) == MAX_IDENTIFIER_LENGTH
    assert base.endswith("nv")  # initials kept, given name shortened
    assert base.startswith("abcdefghij")

    dotted = identifier_base("Wolfeschlegelsteinhausenbergerdorff", "", "Hubert", "given.family")
    assert len(dotted) <= MAX_IDENTIFIER_LENGTH
    assert dotted.startswith("hubert.wolfe")  # the longer part was shortened

    many = identifier_base("Công Tôn", " ".join(["Nữ"] * 40), "Hoa", "family.middle.given")
    assert len(many) <= MAX_IDENTIFIER_LENGTH
    assert many.startswith("c")
    assert many.rsplit(".", 1)[-1].startswith("h")  # the given name survives


def test_max_length_option() -> None:
    base = identifier_base("Nguyễn", "Văn", "Abcdefghijklmnopqrstuvwxyz", max_length=20)
    assert len(base) == 20
    assert base.endswith("nv")
    assert len(identifier_base("", "", "", max_length=8)) == 8
    for bad in (0, 7, 65):
        with pytest.raises(ValueError, match="max_length"):
            identifier_base("Nguyễn", "Văn", "An", max_length=bad)


# --------------------------------------------------------------------------- is_valid_identifier


@pytest.mark.parametrize("value", ["annv", "annv2", "an.nguyen", "nguyen.van.an", "u1a2b3c4", "a"])
def test_valid_identifiers(value: str) -> None:
    assert is_valid_identifier(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        ".annv",
        "annv.",
        "an..nv",
        "Annv",
        "an nv",
        "an-nv",
        "an_nv",
        "ánnv",
        "annv\n",
        "2annv",  # must start with a letter
        "a" * (MAX_IDENTIFIER_LENGTH + 1),
        None,
        42,
        b"annv",
    ],
)
def test_invalid_identifiers(value: object) -> None:
    assert not is_valid_identifier(value)


def test_is_valid_identifier_max_length() -> None:
    assert is_valid_identifier("a" * 40, max_length=64)
    assert not is_valid_identifier("a" * 21, max_length=20)


def test_reserved_words_are_syntactically_valid_but_never_names() -> None:
    assert is_valid_identifier("admin")
    assert "admin" in RESERVED_WORDS and "postmaster" in RESERVED_WORDS


# --------------------------------------------------------------------------- allocate_identifier


def test_free_base_is_returned_as_is() -> None:
    assert allocate_identifier("annv", taken_by(set())) == "annv"


def test_collisions_are_numbered_from_two() -> None:
    taken: set[str] = set()
    issued = []
    for _ in range(5):
        identifier = allocate_identifier("annv", taken_by(taken))
        taken.add(identifier)
        issued.append(identifier)
    assert issued == ["annv", "annv2", "annv3", "annv4", "annv5"]


def test_first_free_number_is_used() -> None:
    assert allocate_identifier("annv", taken_by({"annv", "annv2", "annv4"})) == "annv3"
    assert allocate_identifier("annv", taken_by({"annv2"})) == "annv"


def test_reserved_identifiers_of_people_who_left_are_never_reissued() -> None:
    # annv left years ago; the store still reports the identifier as taken
    active = {"annv2"}
    ever_issued = {"annv", "annv2", "annv3"}
    result = allocate_identifier("annv", lambda c: c in active or c in ever_issued)
    assert result == "annv4"


def test_is_taken_is_called_lazily_in_order() -> None:
    asked: list[str] = []

    def is_taken(candidate: str) -> bool:
        asked.append(candidate)
        return candidate in {"annv", "annv2"}

    assert allocate_identifier("annv", is_taken) == "annv3"
    assert asked == ["annv", "annv2", "annv3"]


@pytest.mark.parametrize(
    "word",
    [
        "admin",
        "root",
        "postmaster",
        "abuse",
        "hostmaster",
        "webmaster",
        "noreply",
        "mailerdaemon",
        "support",
        "info",
        "security",
        "vanthu",
    ],
)
def test_deny_list_is_never_issued_to_a_person(word: str) -> None:
    assert word in RESERVED_WORDS
    assert allocate_identifier(word, taken_by(set())) == word + "2"


def test_deny_list_is_not_consulted_via_is_taken() -> None:
    asked: list[str] = []

    def is_taken(candidate: str) -> bool:
        asked.append(candidate)
        return False

    result = allocate_identifier("root", is_taken)
    assert result == "root2"
    assert asked == ["root2"]


def test_custom_deny_list() -> None:
    assert allocate_identifier("admin", taken_by(set()), reserved_words=frozenset()) == "admin"
    assert allocate_identifier("annv", taken_by(set()), reserved_words={"annv", "annv2"}) == "annv3"


def test_name_that_folds_to_a_reserved_word() -> None:
    base = identifier_base("", "", "Ädmin")
    assert base == "admin"
    assert allocate_identifier(base, taken_by(set())) == "admin2"


def test_numbered_form_stays_within_the_length_bound() -> None:
    base = "a" * MAX_IDENTIFIER_LENGTH
    result = allocate_identifier(base, taken_by({base}))
    assert result == "a" * (MAX_IDENTIFIER_LENGTH - 1) + "2"
    taken = {base} | {"a" * (MAX_IDENTIFIER_LENGTH - 1) + str(n) for n in range(2, 10)}
    result = allocate_identifier(base, taken_by(taken))
    assert result == "a" * (MAX_IDENTIFIER_LENGTH - 2) + "10"


def test_numbered_form_never_ends_a_segment_with_a_dot() -> None:
    base = "a" * 30 + ".b"  # 32 characters; cutting one leaves a trailing dot
    result = allocate_identifier(base, taken_by({base}))
    assert result == "a" * 30 + "2"
    assert is_valid_identifier(result)


@pytest.mark.parametrize("bad", ["", "Annv", "an..nv", ".annv", "ánnv", "a" * 33])
def test_allocate_rejects_an_invalid_base(bad: str) -> None:
    with pytest.raises(ValueError, match="not a valid identifier"):
        allocate_identifier(bad, taken_by(set()))


def test_allocate_gives_up_after_max_attempts() -> None:
    with pytest.raises(IdentifierExhaustedError):
        allocate_identifier("annv", lambda _: True, max_attempts=50)


# --------------------------------------------------------------------------- properties

_TONES = ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")  # huyền sắc ngã hỏi nặng
_VOWELS = ["a", "ă", "â", "e", "ê", "i", "o", "ô", "ơ", "u", "ư", "y"]
VIETNAMESE_VOWELS = sorted(
    {unicodedata.normalize("NFC", v + t) for v in _VOWELS for t in _TONES}
    | {unicodedata.normalize("NFC", v.upper() + t) for v in _VOWELS for t in _TONES}
)
VIETNAMESE_CONSONANTS = list("bcdđghklmnpqrstvx") + list("BCDĐGHKLMNPQRSTVX")
VIETNAMESE_LETTERS = VIETNAMESE_VOWELS + VIETNAMESE_CONSONANTS
assert len(VIETNAMESE_VOWELS) == 2 * 12 * 6

vn_word = st.text(alphabet=st.sampled_from(VIETNAMESE_LETTERS), min_size=1, max_size=8)
spacing = st.sampled_from([" ", "  ", "\t", "\u00a0", " \n "])


@st.composite
def vn_part(draw: st.DrawFn, min_words: int = 0, max_words: int = 3) -> str:
    words = draw(st.lists(vn_word, min_size=min_words, max_size=max_words))
    out = draw(st.sampled_from(["", " "]))
    for word in words:
        out += word + draw(spacing)
    return out


weird_text = st.text(max_size=30)  # any Unicode, surrogates excluded by default
name_part = st.one_of(vn_part(), weird_text, st.builds(str.__add__, vn_part(), weird_text))
patterns = st.sampled_from(PATTERNS)


def is_good(identifier: str, max_length: int = MAX_IDENTIFIER_LENGTH) -> bool:
    return (
        IDENTIFIER_RE.fullmatch(identifier) is not None
        and len(identifier) <= max_length
        and is_valid_identifier(identifier, max_length=max_length)
    )


@given(name_part, name_part, name_part, patterns)
def test_base_is_always_a_valid_identifier(family: str, middle: str, given_name: str, pattern: str):
    base = identifier_base(family, middle, given_name, pattern)
    assert is_good(base)
    assert not base.startswith(".") and not base.endswith(".") and ".." not in base


@given(name_part, name_part, name_part, patterns, st.integers(8, 64))
def test_length_bound_holds(
    family: str, middle: str, given_name: str, pattern: str, max_length: int
) -> None:
    base = identifier_base(family, middle, given_name, pattern, max_length=max_length)
    assert is_good(base, max_length)


@given(name_part, name_part, name_part, patterns)
def test_base_is_deterministic(family: str, middle: str, given_name: str, pattern: str) -> None:
    first = identifier_base(family, middle, given_name, pattern)
    assert identifier_base(family, middle, given_name, pattern) == first
    assert identifier_base(str(family), str(middle), str(given_name), pattern) == first


@given(name_part, name_part, name_part, patterns)
def test_nfc_and_nfd_give_the_same_identifier(
    family: str, middle: str, given_name: str, pattern: str
) -> None:
    def form(f: Literal["NFC", "NFD", "NFKC", "NFKD"]) -> str:
        def norm(part: str) -> str:
            return unicodedata.normalize(f, part)

        return identifier_base(norm(family), norm(middle), norm(given_name), pattern)

    # NFC and NFD are what the brief requires; NFKC/NFKD hold too (compatibility forms).
    assert form("NFC") == form("NFD") == form("NFKC") == form("NFKD")


@given(vn_part(), vn_part(), vn_part(min_words=1), patterns)
def test_vietnamese_names_ignore_case_and_spacing(
    family: str, middle: str, given_name: str, pattern: str
) -> None:
    base = identifier_base(family, middle, given_name, pattern)
    assert identifier_base(family.upper(), middle.upper(), given_name.upper(), pattern) == base
    assert identifier_base(family.lower(), middle.lower(), given_name.lower(), pattern) == base
    assert identifier_base(nfc(family), nfc(middle), nfc(given_name), pattern) == base
    assert not any(ch.isdigit() for ch in base)  # digits only ever come from numbering


@given(vn_part(), vn_part(), vn_part(min_words=1, max_words=2))
def test_default_pattern_matches_a_simple_model(family: str, middle: str, given_name: str):
    """given name folded and concatenated, then the initials of family and middle names."""

    def ascii_words(part: str) -> list[str]:
        return search_key(part).split()

    expected = "".join(ascii_words(given_name)) + "".join(
        w[0] for w in ascii_words(family) + ascii_words(middle)
    )
    assume(len(expected) <= MAX_IDENTIFIER_LENGTH)
    assert identifier_base(family, middle, given_name) == expected


@given(vn_part(min_words=1, max_words=1), vn_part(min_words=1, max_words=1))
def test_given_family_matches_a_simple_model(family: str, given_name: str) -> None:
    expected = f"{search_key(given_name)}.{search_key(family)}"
    assume(len(expected) <= MAX_IDENTIFIER_LENGTH)
    assert identifier_base(family, "", given_name, "given.family") == expected


# short enough that base + number never needs truncating (tested separately above)
identifiers = st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z0-9]{1,6}){0,2}", fullmatch=True)


@given(
    st.one_of(identifiers, st.sampled_from(sorted(RESERVED_WORDS))),
    st.sets(st.integers(1, 40), max_size=40),
    st.sets(st.integers(1, 40), max_size=10),
)
def test_allocate_never_returns_a_taken_or_reserved_name(
    base: str, taken_numbers: set[int], reserved_numbers: set[int]
) -> None:
    def numbered(n: int) -> str:
        return base if n == 1 else f"{base}{n}"

    active = {numbered(n) for n in taken_numbers}
    ever_issued = {numbered(n) for n in reserved_numbers}
    result = allocate_identifier(base, lambda c: c in active or c in ever_issued)
    assert is_good(result)
    assert result not in active
    assert result not in ever_issued
    assert result not in RESERVED_WORDS
    # and it is the first free one
    first_free = next(
        numbered(n)
        for n in range(1, 100)
        if numbered(n) not in active | ever_issued | RESERVED_WORDS
    )
    assert result == first_free


@given(identifiers, st.integers(1, 40), st.sets(st.integers(1, 60), max_size=30))
def test_allocate_from_a_known_start_is_the_same_first_free_name(
    base: str, run: int, later: set[int]
) -> None:
    """`start` skips candidates the caller knows are taken; the answer does not change."""
    taken = {numbered_identifier(base, n) for n in range(1, run)} | {
        numbered_identifier(base, n) for n in later
    }
    expected = allocate_identifier(base, taken.__contains__)
    assert allocate_identifier(base, taken.__contains__, start=run) == expected
    assert numbered_identifier(base, 1) == base
    assert numbered_identifier(base, 12, max_length=len(base) + 2) == base + "12"


@given(name_part, name_part, name_part, patterns, st.sets(st.integers(1, 60), max_size=60))
@settings(max_examples=50)
def test_allocate_from_any_name_is_valid_and_free(
    family: str, middle: str, given_name: str, pattern: str, taken_numbers: set[int]
) -> None:
    base = identifier_base(family, middle, given_name, pattern)
    taken = {base if n == 1 else base + str(n) for n in taken_numbers}
    result = allocate_identifier(base, taken_by(taken))
    assert is_good(result)
    assert result not in taken
    assert result not in RESERVED_WORDS


@given(st.text(max_size=40))
def test_is_valid_identifier_agrees_with_the_documented_rule(value: str) -> None:
    expected = (
        IDENTIFIER_RE.fullmatch(value) is not None
        and len(value) <= MAX_IDENTIFIER_LENGTH
        and value[:1].isalpha()
    )
    assert is_valid_identifier(value) == expected
