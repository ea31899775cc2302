"""The personal-data tests use the sign-on's live hub (a signed-in person's account pages)."""

from tests.oidc.conftest import apps, browser, hub, live, person, pytest_configure, settings

__all__ = ["apps", "browser", "hub", "live", "person", "pytest_configure", "settings"]
