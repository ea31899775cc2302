"""The message catalogues: both languages complete, compiled .mo files current, text NFC,
and every key the pages use exists."""

from __future__ import annotations

import gettext
import re
import unicodedata
from pathlib import Path

from babel.messages.pofile import read_po

from idhub.config import load_settings
from idhub.oidc.i18n import LANGS, TRANSLATIONS

ROOT = Path(__file__).resolve().parents[2] / "idhub"


def catalogue(lang: str) -> dict[str, str]:
    with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale=lang) if m.id}


def test_catalogues_are_complete_compiled_and_nfc():
    keys = None
    for lang in LANGS:
        po = catalogue(lang)
        assert all(po.values()), f"{lang}: empty translations"
        keys = keys or set(po)
        assert set(po) == keys, f"{lang}: keys differ"
        with open(TRANSLATIONS / lang / "LC_MESSAGES" / "messages.mo", "rb") as fh:
            mo = gettext.GNUTranslations(fh)
        for key, text in po.items():
            assert mo.gettext(key) == text, f"{lang}: {key} not compiled (pybabel compile)"
            assert unicodedata.is_normalized("NFC", text), f"{lang}: {key} not NFC"
    assert catalogue("vi")["button.login"] == "Đăng nhập"
    assert catalogue("en")["button.login"] == "Sign in"


def test_every_key_used_exists():
    known = set(catalogue("vi"))
    used = set()
    for path in [*ROOT.glob("sso/*.py"), *ROOT.glob("templates/sso_*.html")]:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_0-9]+)["']""", path.read_text()))
    used |= {f"scope.{s}" for s in load_settings(environ={})["sso"]["scopes"]}
    used |= {"error.too_short", "error.contains_name", "title.reset"}
    assert used - known == set()
    assert len(used) > 30
