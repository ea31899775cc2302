"""Sign-ins in the metrics (docs/metrics.md): ok when a session starts, failed, locked when
the failure locks the account here or the try is refused because it is locked."""

from __future__ import annotations

import pytest
import requests
from prometheus_client import REGISTRY

from tests.fixtures.sso import PASSWORD, sign_in

PROXY = "127.0.0.1/32"  # the live hub's peer is loopback: the tests play the proxy


def signins() -> dict[str, float]:
    """This process's counts (the live hub runs in it)."""
    return {
        result: REGISTRY.get_sample_value("idhub_signins_total", {"result": result}) or 0.0
        for result in ("ok", "failed", "locked", "throttled")
    }


def via(address: str) -> requests.Session:
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = address
    return browser


@pytest.mark.server(trusted_proxies=[PROXY])
def test_sign_ins_are_counted_ok_failed_and_locked(app, hub, person, settings):
    threshold = settings["sso"]["lockout_threshold"]
    before = signins()
    done = sign_in(hub, person["username"], PASSWORD, person["secret"], browser=via("198.51.100.7"))
    assert done.status_code == 303, done.text
    attacker = via("203.0.113.5")
    for _ in range(threshold):
        assert (
            sign_in(hub, person["username"], "sai mật khẩu", None, browser=attacker).status_code
            == 401
        )
    refused = sign_in(hub, person["username"], PASSWORD, None, browser=attacker)
    assert refused.status_code == 401  # locked here, even with the right password
    after = signins()
    delta = {result: after[result] - before[result] for result in after}
    # The last wrong password locks (locked), the right one is then refused (locked).
    assert delta == {"ok": 1, "failed": threshold - 1, "locked": 2, "throttled": 0}
