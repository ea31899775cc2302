"""The console runs on the sign-on's live hub: the same fixtures (a live hub, an activated
person with a password and TOTP, a signed-in browser), plus a way to make that person an
administrator of some subtree."""

from tests.oidc.conftest import apps, browser, hub, live, person, pytest_configure, settings

__all__ = ["apps", "browser", "hub", "live", "person", "pytest_configure", "settings"]
