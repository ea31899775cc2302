"""The import's messages in both languages at once: a row's errors go to the API in
Vietnamese and English, and to the console in the reader's language. Keys live in the
hub's catalogues (`import.*`), read here without a request so a check needs no Flask."""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


@functools.cache
def _catalogue(lang: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS), [lang])


def text(key: str, lang: str, **values: Any) -> str:
    found = _catalogue(lang).gettext(key)
    if values:
        found = found.format(**values)
    return unicodedata.normalize("NFC", found)


@dataclass(frozen=True)
class Message:
    """One problem: a stable code and what it says in Vietnamese and English."""

    code: str
    vi: str
    en: str

    @classmethod
    def of(cls, which: str, /, **values: Any) -> Message:
        key = f"import.error.{which}"
        return cls(which, text(key, "vi", **values), text(key, "en", **values))

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "vi": self.vi, "en": self.en}

    def say(self, lang: str) -> str:
        return self.en if lang == "en" else self.vi
