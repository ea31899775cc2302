"""The sign-in pages' messages, with Flask-Babel: Vietnamese by default, English available.

Messages are named by keys ("error.login_failed"); their texts live in gettext catalogues,
`idhub/translations/<vi|en>/LC_MESSAGES/messages.po`, compiled to `messages.mo` next to
them (`pybabel compile -d idhub/translations`; a test checks the .mo files are current).
`?lang=en|vi` sets a cookie; otherwise Accept-Language picks; otherwise the configured
default (`sso.default_locale`). Every text is NFC.
"""

from __future__ import annotations

import importlib.resources
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlencode

from flask import Flask, has_request_context, request
from flask_babel import Babel, get_locale, gettext

from idhub.oidc.settings import SsoSettings
from idhub.services import current_hub

LANGS = ("vi", "en")
LANG_COOKIE = "idhub_lang"
TRANSLATIONS = Path(str(importlib.resources.files("idhub") / "translations"))


def select_locale() -> str:
    default = current_hub().settings.section(SsoSettings).default_locale
    if not has_request_context():
        return default
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in LANGS:
        return chosen
    if request.headers.get("Accept-Language"):
        best = request.accept_languages.best_match(LANGS)
        if best:
            return best
    return default


def lang_url(code: str, keep: Mapping[str, str] | None = None) -> str:
    """The current page in language `code`: its query kept (a search, a page number, an
    authorization request's parameters) with only `lang` replaced. `keep` adds what a page
    shown after a POST carries in its form instead of its query (the sign-in page's `next`),
    so that switching language there does not lose the flow either."""
    args = [
        (k, v) for k, v in request.args.items(multi=True) if k != "lang" and k not in (keep or {})
    ]
    args += [(k, v) for k, v in (keep or {}).items() if v]
    args.append(("lang", code))
    return "?" + urlencode(args)


def init_i18n(app: Flask, default_locale: str) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    app.config["BABEL_DEFAULT_LOCALE"] = default_locale
    Babel(app, locale_selector=select_locale)
    app.jinja_env.globals["lang_url"] = lang_url


def locale() -> str:
    return str(get_locale() or "vi")


def t(key: str, **values: object) -> str:
    text = gettext(key)
    if values:
        text = text.format(**values)
    return unicodedata.normalize("NFC", text)
