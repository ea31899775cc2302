"""The sign-on's own per-app state: the AuthorizationServer, the issuer and whether its
cookies are Secure; one typed object under one app extension key, read by `oidc_state()`."""

from __future__ import annotations

from dataclasses import dataclass

from authlib.integrations.flask_oauth2 import AuthorizationServer
from flask import Flask, current_app

from idhub.config import Settings
from idhub.oidc.settings import SsoSettings
from idhub.web.settings import ServerSettings

EXTENSION = "idhub.oidc"


@dataclass(frozen=True)
class OidcState:
    server: AuthorizationServer
    issuer: str  # no trailing slash
    secure_cookies: bool

    def init_app(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self


def issuer_of(settings: Settings) -> str:
    """[sso] issuer, or the server's public URL when it is empty."""
    configured = settings.section(SsoSettings).issuer
    return (configured or settings.section(ServerSettings).public_url).rstrip("/")


def secure_cookies_of(settings: Settings, issuer: str) -> bool:
    """[sso] cookie_secure: "auto" follows the issuer's scheme, else "true" or "false"."""
    secure = settings.section(SsoSettings).cookie_secure
    return issuer.startswith("https://") if secure == "auto" else secure == "true"


def oidc_state(app: Flask | None = None) -> OidcState:
    """The sign-on state of `app` (default: the application handling this request)."""
    state: OidcState = (app or current_app).extensions[EXTENSION]
    return state
