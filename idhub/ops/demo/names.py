"""Synthetic Vietnamese personal names, mail addresses and phone numbers for demo data.

Everything here is drawn from a caller-supplied ``random.Random``; nothing touches the
global generator, so a seed reproduces the same people. The weights are rough national
frequencies (Nguyễn is carried by close to four in ten people), with the family names
of the Thái and Mông communities that are common in the northern mountain provinces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import accumulate

from provisioning.naming import fold, nfc

MALE = "male"
FEMALE = "female"


class _Weighted:
    """A fixed list of choices with cumulative weights, for fast repeated draws."""

    def __init__(self, pairs: list[tuple[str, float]]) -> None:
        self.values = [nfc(v) for v, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self.values, cum_weights=self.cum)[0]


# Family names (họ), percentages of the population. Ethnic-minority names at the end.
FAMILY_NAMES = _Weighted(
    [
        ("Nguyễn", 38.0),
        ("Trần", 11.0),
        ("Lê", 9.5),
        ("Phạm", 7.0),
        ("Hoàng", 4.0),
        ("Huỳnh", 1.5),
        ("Phan", 4.0),
        ("Vũ", 2.5),
        ("Võ", 1.5),
        ("Đặng", 2.0),
        ("Bùi", 2.0),
        ("Đỗ", 1.5),
        ("Hồ", 1.2),
        ("Ngô", 1.2),
        ("Dương", 1.0),
        ("Lý", 0.6),
        ("Đinh", 0.6),
        ("Trương", 0.5),
        ("Mai", 0.4),
        ("Tạ", 0.3),
        # Thái
        ("Lò", 1.4),
        ("Lường", 1.0),
        ("Tòng", 0.8),
        ("Quàng", 0.7),
        ("Cầm", 0.6),
        ("Điêu", 0.3),
        # Mông, Hà Nhì, Dao
        ("Vàng", 0.9),
        ("Giàng", 0.9),
        ("Sùng", 0.7),
        ("Thào", 0.7),
        ("Lù", 0.6),
    ]
)

# Mông names follow their own pattern: "A" for men, "Thị"/"Seo" for women, own given names.
HMONG_FAMILY_NAMES = frozenset(nfc(n) for n in ("Vàng", "Giàng", "Sùng", "Thào", "Lù"))

MIDDLE_NAMES = {
    MALE: _Weighted(
        [
            ("Văn", 45.0),
            ("Đức", 9.0),
            ("Minh", 9.0),
            ("Quang", 7.0),
            ("Hữu", 6.0),
            ("Công", 5.0),
            ("Xuân", 4.0),
            ("Thanh", 4.0),
            ("Ngọc", 3.0),
            ("Tiến", 3.0),
            ("Trọng", 3.0),
            ("Mạnh", 2.0),
        ]
    ),
    FEMALE: _Weighted(
        [
            ("Thị", 50.0),
            ("Ngọc", 8.0),
            ("Thu", 7.0),
            ("Thanh", 6.0),
            ("Thùy", 5.0),
            ("Minh", 4.0),
            ("Hồng", 4.0),
            ("Phương", 4.0),
            ("Kim", 4.0),
            ("Bích", 3.0),
            ("Mai", 3.0),
            ("Hải", 2.0),
        ]
    ),
}

# Second middle names, used after "Văn"/"Thị" or on their own ("Nguyễn Thị Thu Hà").
SECOND_MIDDLE_NAMES = {
    MALE: _Weighted([("Minh", 3), ("Quốc", 3), ("Hoàng", 2), ("Anh", 2), ("Bảo", 1), ("Thành", 2)]),
    FEMALE: _Weighted(
        [("Thu", 3), ("Ngọc", 3), ("Thanh", 2), ("Hồng", 2), ("Minh", 1), ("Bảo", 1)]
    ),
}

GIVEN_NAMES = {
    MALE: _Weighted(
        [
            ("An", 6), ("Anh", 6), ("Bình", 4), ("Cường", 4), ("Dũng", 5), ("Đức", 4),
            ("Hải", 5), ("Hùng", 6), ("Huy", 4), ("Khánh", 3), ("Long", 4), ("Minh", 5),
            ("Nam", 5), ("Phong", 3), ("Quân", 3), ("Sơn", 4), ("Thắng", 4), ("Tuấn", 6),
            ("Việt", 3), ("Hiếu", 3), ("Hoàng", 3), ("Kiên", 2), ("Lâm", 2), ("Nghĩa", 2),
            ("Phúc", 2), ("Quang", 2), ("Tài", 2), ("Thành", 3), ("Trung", 3), ("Tùng", 3),
            ("Vinh", 2), ("Toàn", 2), ("Đạt", 2), ("Hưng", 2), ("Lộc", 1), ("Thịnh", 1),
        ]
    ),
    FEMALE: _Weighted(
        [
            ("Anh", 5), ("Ánh", 3), ("Châu", 2), ("Dung", 3), ("Giang", 3), ("Hà", 5),
            ("Hạnh", 4), ("Hằng", 5), ("Hoa", 4), ("Hương", 6), ("Lan", 5), ("Linh", 6),
            ("Mai", 4), ("Nga", 4), ("Ngọc", 3), ("Nhung", 3), ("Phương", 4), ("Thảo", 5),
            ("Trang", 6), ("Vân", 3), ("Yến", 3), ("Huyền", 4), ("Loan", 2), ("Ly", 2),
            ("Oanh", 2), ("Quyên", 2), ("Thủy", 4), ("Thúy", 2), ("Tuyết", 2), ("Uyên", 2),
            ("Diệp", 1), ("Hiền", 3), ("Liên", 2), ("Nhàn", 1), ("Xuân", 2), ("Vy", 2),
        ]
    ),
}  # fmt: skip

HMONG_MIDDLE = {MALE: _Weighted([("A", 1)]), FEMALE: _Weighted([("Thị", 3), ("Seo", 1)])}
HMONG_GIVEN = {
    MALE: _Weighted(
        [("Páo", 3), ("Chứ", 2), ("Dơ", 2), ("Sử", 2), ("Lử", 1), ("Sính", 2), ("Tủa", 1),
         ("Chua", 1), ("Vừ", 1), ("Pó", 1)]
    ),
    FEMALE: _Weighted(
        [("Mỷ", 3), ("Dợ", 2), ("Sua", 1), ("Pằng", 1), ("Chía", 1), ("Mái", 1), ("Dế", 1),
         ("Sú", 1)]
    ),
}  # fmt: skip


@dataclass(frozen=True)
class PersonName:
    family: str
    middle: str  # "" when the person has none; may hold two words ("Thị Thu")
    given: str

    @property
    def full(self) -> str:
        return " ".join(p for p in (self.family, self.middle, self.given) if p)


DEMO_COLLISION_NAME = PersonName(nfc("Nguyễn"), nfc("Văn"), nfc("An"))


def random_name(rng: random.Random, gender: str) -> PersonName:
    """One person's name; about 3 % have no middle name and 8 % have two."""
    family = FAMILY_NAMES.pick(rng)
    if family in HMONG_FAMILY_NAMES and rng.random() < 0.6:
        return PersonName(family, HMONG_MIDDLE[gender].pick(rng), HMONG_GIVEN[gender].pick(rng))
    roll = rng.random()
    if roll < 0.03:
        middle = ""
    elif roll < 0.11:
        first = MIDDLE_NAMES[gender].pick(rng)
        second = SECOND_MIDDLE_NAMES[gender].pick(rng)
        middle = first if first == second else f"{first} {second}"
    else:
        middle = MIDDLE_NAMES[gender].pick(rng)
    return PersonName(family, middle, GIVEN_NAMES[gender].pick(rng))


def _ascii(word: str) -> str:
    return "".join(ch for ch in fold(word).lower() if ch.isascii() and ch.isalnum())


def personal_email(rng: random.Random, name: PersonName, birth_year: int) -> str:
    """A private mailbox (used for account recovery): "nguyenvanan87@gmail.com" and kin."""
    family, given = _ascii(name.family), _ascii(name.given)
    initials = "".join(_ascii(w)[:1] for w in name.middle.split())
    style = rng.randrange(5)
    if style == 0:
        local = f"{family}{_ascii(name.middle)}{given}{birth_year % 100:02d}"
    elif style == 1:
        local = f"{given}.{family}{birth_year}"
    elif style == 2:
        local = f"{given}{family[:1]}{initials}{rng.randint(1, 999)}"
    elif style == 3:
        local = f"{family}{given}{rng.randint(10, 9999)}"
    else:
        local = f"{given}{initials}{family}.{birth_year % 100:02d}{rng.randint(1, 99)}"
    domain = "gmail.com" if rng.random() < 0.85 else "yahoo.com"
    return f"{local}@{domain}"


# Mobile prefixes in use since the 2018 renumbering (Viettel, Vinaphone, MobiFone, others).
MOBILE_PREFIXES = (
    "032", "033", "034", "035", "036", "037", "038", "039",  # Viettel
    "052", "056", "058", "059",  # Vietnamobile, Gmobile
    "070", "076", "077", "078", "079",  # MobiFone
    "081", "082", "083", "084", "085", "086", "088", "089",  # Vinaphone, Viettel
    "090", "091", "093", "094", "096", "097", "098", "099",
)  # fmt: skip


def personal_phone(rng: random.Random) -> str:
    """A 10-digit Vietnamese mobile number, e.g. "0912345678"."""
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10_000_000):07d}"
