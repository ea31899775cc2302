"""`next` after sign-in stays on this hub: parsed, not prefix-matched (#17 weakness 6)."""

from __future__ import annotations

import pytest

from idhub.oidc.pages.common import safe_next
from tests.fixtures.sso import PASSWORD, sign_in

OFF_SITE = [
    "/\t/evil.example",
    "/\\evil.example",
    "//evil.example",
    "https://evil.example",
    "/%09/evil.example",
    "/%5Cevil.example",
    "/%2F/evil.example",
    " /evil",
    "/\n/evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "evil.example",
    "/a\x00b",
]


@pytest.mark.parametrize("value", OFF_SITE)
def test_off_site_or_odd_targets_fall_back_to_the_account_page(value):
    assert safe_next(value) == "/account"


@pytest.mark.parametrize(
    "value",
    [
        "/sso/account",
        "/oauth/authorize?client_id=x&scope=openid+profile&redirect_uri=https%3A%2F%2Fa.example%2Fcb",
        "/sso/account?lang=en",
    ],
)
def test_paths_on_this_hub_are_kept(value):
    assert safe_next(value) == value


def test_sign_in_never_redirects_off_site(app, hub, person):
    done = sign_in(hub, person["username"], PASSWORD, person["secret"], next_url="/\t/evil.example")
    assert done.status_code == 303 and done.headers["Location"] == "/account"
