"""Vietnamese names → ASCII identifiers (uid, mail local part) and search keys."""

from __future__ import annotations

import re
import unicodedata

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
