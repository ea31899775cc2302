"""Issue 17, weaknesses 3, 4 and 5: lockout per account and address with growing locks,
the client address behind trusted proxies (X-Forwarded-For not forgeable, IPv6 by /64),
the code step throttled, and failed sign-ins audited once per account per window."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import requests
from sqlalchemy import func, select, update

from idhub.models import AuditEvent, LoginFailureTally, LoginLock, PersonCredential
from tests.fixtures.sso import PASSWORD, code_at, form_fields, sign_in

PROXY = "127.0.0.1/32"  # the live hub's peer is loopback: the tests play the proxy


def via(address: str, *, prefix: str = "") -> requests.Session:
    """A browser behind the proxy: the proxy appended `address` (after what the client
    itself sent, `prefix`)."""
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = f"{prefix}, {address}" if prefix else address
    return browser


def wrong(hub: str, username: str, browser: requests.Session) -> int:
    return sign_in(hub, username, "sai mật khẩu rồi", None, browser=browser).status_code


def _locks(app, person_id: str) -> list[LoginLock]:
    with app.extensions["idhub"].db.transaction() as session:
        return list(
            session.scalars(select(LoginLock).where(LoginLock.person_id == uuid.UUID(person_id)))
        )


# ------------------------------------------------------------------ 3: lockout


@pytest.mark.server(trusted_proxies=[PROXY])
def test_lockout_is_per_account_and_address(app, hub, person):
    attacker = "203.0.113.5"
    for _ in range(5):
        assert wrong(hub, person["username"], via(attacker)) == 401
    # From the attacker's address the account is locked, even with the right password…
    assert (
        sign_in(hub, person["username"], PASSWORD, None, browser=via(attacker)).status_code == 401
    )
    # …but its owner, elsewhere, signs in with the password and the code.
    owner = via("198.51.100.7")
    done = sign_in(hub, person["username"], PASSWORD, person["secret"], browser=owner)
    assert done.status_code == 303, done.text
    # And sees it on their account page.
    page = owner.get(hub + "/account/sessions")
    assert page.status_code == 200
    assert "Đăng nhập sai trong 30 ngày qua: 5 lần, từ 1 địa chỉ; 1 địa chỉ bị khoá" in page.text


@pytest.mark.server(trusted_proxies=[PROXY])
def test_locks_in_a_row_grow(app, hub, person, settings):
    attacker = via("203.0.113.6")
    lengths = []
    for _ in range(3):
        for _ in range(5):
            assert wrong(hub, person["username"], attacker) == 401
        [row] = _locks(app, person["id"])
        lengths.append((row.locked_until - row.last_locked_at).total_seconds())
        with app.extensions["idhub"].db.transaction() as session:  # let the lock pass
            session.execute(
                update(LoginLock).values(
                    locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
                )
            )
    base = settings["sso"]["lockout_s"]
    assert lengths == [base, 2 * base, 4 * base]
    # The right password from there ends the run: the next lock is short again.
    assert sign_in(hub, person["username"], PASSWORD, None, browser=attacker).status_code == 303
    [row] = _locks(app, person["id"])
    assert row.locks == 0 and row.failures == 0 and row.total_failures == 15


@pytest.mark.server(trusted_proxies=[PROXY])
def test_unknown_names_lock_like_known_ones(app, hub, person):
    browser = via("203.0.113.7")
    for _ in range(5):
        assert wrong(hub, "khongcoai", browser) == 401
    with app.extensions["idhub"].db.transaction() as session:
        row = session.scalar(select(LoginLock).where(LoginLock.source == "203.0.113.7"))
    assert row.person_id is None and row.subject.startswith("n:") and row.locks == 1


# ------------------------------------------------------------------ 4: the client address


@pytest.mark.server(trusted_proxies=["10.9.9.0/24"])
@pytest.mark.sso(ip_failures_per_window=3)
def test_forwarded_for_from_an_untrusted_peer_is_ignored(app, hub, person):
    # The hub is reached directly (127.0.0.1 is no proxy of ours): a made-up
    # X-Forwarded-For on every try does not make a new address.
    for n in range(3):
        assert wrong(hub, f"ai-do-{n}", via(f"192.0.2.{n + 1}")) == 401
    throttled = sign_in(hub, person["username"], PASSWORD, None, browser=via("192.0.2.99"))
    assert throttled.status_code == 429


@pytest.mark.server(trusted_proxies=[PROXY])
@pytest.mark.sso(ip_failures_per_window=3)
def test_clients_behind_the_proxy_count_apart_and_cannot_forge(app, hub, person):
    # What the client writes in front of the proxy's entry counts for nothing.
    for n in range(3):
        assert wrong(hub, f"ai-do-{n}", via("203.0.113.9", prefix=f"192.0.2.{n + 1}")) == 401
    blocked = via("203.0.113.9", prefix="192.0.2.200")
    assert sign_in(hub, person["username"], PASSWORD, None, browser=blocked).status_code == 429
    # Someone else behind the same proxy is not throttled.
    other = sign_in(
        hub, person["username"], PASSWORD, person["secret"], browser=via("198.51.100.8")
    )
    assert other.status_code == 303


@pytest.mark.server(trusted_proxies=[PROXY])
@pytest.mark.sso(ip_failures_per_window=3)
def test_ipv6_addresses_count_by_64(app, hub, person):
    for n in range(3):
        assert wrong(hub, f"ai-do-{n}", via(f"2001:db8:1:2::{n + 1}")) == 401
    same = sign_in(hub, person["username"], PASSWORD, None, browser=via("2001:db8:1:2:ffff::1"))
    assert same.status_code == 429
    other = via("2001:db8:1:3::1")
    assert sign_in(hub, person["username"], PASSWORD, None, browser=other).status_code == 303


@pytest.mark.server(trusted_proxies=[PROXY])
@pytest.mark.sso(ip_failures_per_window=3)
def test_the_code_step_is_throttled_per_address(app, hub, person):
    browser = via("203.0.113.10")
    assert sign_in(hub, person["username"], PASSWORD, None, browser=browser).status_code == 303
    for n in range(3):  # meanwhile the same address fails elsewhere
        assert wrong(hub, f"ai-do-{n}", via("203.0.113.10")) == 401
    page = browser.get(hub + "/sso/login/code")
    refused = browser.post(
        hub + "/sso/login/code",
        data={**form_fields(page.text), "code": code_at(person["secret"])},
        allow_redirects=False,
    )
    assert refused.status_code == 429


@pytest.mark.server(trusted_proxies=[PROXY])
def test_the_code_step_locks_per_account_from_any_address(app, hub, person):
    """Held before too (code failures locked the account); now only the code step locks."""
    for n in range(5):
        browser = via(f"192.0.2.{n + 1}")
        assert sign_in(hub, person["username"], PASSWORD, None, browser=browser).status_code == 303
        page = browser.get(hub + "/sso/login/code")
        bad = browser.post(
            hub + "/sso/login/code",
            data={**form_fields(page.text), "code": "not-a-code"},
            allow_redirects=False,
        )
        assert bad.status_code == 401
    late = sign_in(hub, person["username"], PASSWORD, person["secret"], browser=via("192.0.2.50"))
    assert late.status_code == 401
    with app.extensions["idhub"].db.transaction() as session:
        cred = session.get(PersonCredential, uuid.UUID(person["id"]))
        assert cred.locked_until is not None


# ------------------------------------------------------------------ 5: failures audited in bulk


def _failure_events(app, person_id: str) -> list[AuditEvent]:
    with app.extensions["idhub"].db.transaction() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.action.like("sso.login.failure%"),
                    AuditEvent.object_id == person_id,
                )
                .order_by(AuditEvent.id)
            )
        )


@pytest.mark.server(trusted_proxies=[PROXY])
def test_failures_are_audited_once_per_account_per_window(app, hub, person):
    for n in range(7):
        assert wrong(hub, person["username"], via(f"192.0.2.{n + 1}")) == 401
    assert _failure_events(app, person["id"]) == []  # counted, not yet written
    with app.extensions["idhub"].db.transaction() as session:  # the window closes
        session.execute(
            update(LoginFailureTally).values(
                window_start=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
            )
        )
    assert wrong(hub, person["username"], via("192.0.2.99")) == 401
    [event] = _failure_events(app, person["id"])
    assert event.action == "sso.login.failures"
    assert event.after["failures"] == 7 and event.after["steps"] == {"password": 7}
    assert len(event.after["sources"]) == 7
    # The pending one is written before the next sign-in's own event.
    done = sign_in(hub, person["username"], PASSWORD, person["secret"], browser=via("192.0.2.1"))
    assert done.status_code == 303
    events = _failure_events(app, person["id"])
    assert [e.after["failures"] for e in events] == [7, 1]
    with app.extensions["idhub"].db.transaction() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.object_id == person["id"])
                .order_by(AuditEvent.id.desc())
                .limit(2)
            )
        )
    assert actions == ["sso.login.success", "sso.login.failures"]


def test_closed_windows_are_flushed_by_the_clock(app, hub, person):
    from idhub.changes.chain import Actor
    from idhub.oidc.failures import flush_closed
    from idhub.oidc.settings import SsoSettings

    for _ in range(2):
        assert wrong(hub, person["username"], requests.Session()) == 401
    assert wrong(hub, "khongcoai", requests.Session()) == 401
    hub_services = app.extensions["idhub"]
    sso = hub_services.settings.section(SsoSettings)
    flush = lambda: flush_closed(hub_services.db, hub_services.audit, sso, Actor("system", "t"))  # noqa: E731
    assert flush() == 0  # windows still open
    with hub_services.db.transaction() as session:
        session.execute(
            update(LoginFailureTally).values(
                window_start=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
            )
        )
    assert flush() == 2
    with hub_services.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(LoginFailureTally)) == 0
        unknown = session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "sso.login.failures", AuditEvent.object_id == "unknown"
            )
        )
    assert unknown.after["failures"] == 1
    assert [e.after["failures"] for e in _failure_events(app, person["id"])] == [2]


def test_the_client_address_rules():
    from idhub.web.proxies import client_hop, parse_networks, throttle_key

    nets = parse_networks(["10.0.0.0/8", "fd00::/8"])
    # Not from a proxy of ours: the header is ignored.
    assert client_hop("203.0.113.1", "1.2.3.4", nets) == ("203.0.113.1", 0)
    # From ours: the rightmost address that is not ours, whatever the client prepended.
    assert client_hop("10.0.0.2", "6.6.6.6, 198.51.100.4, 10.0.0.1", nets) == ("198.51.100.4", 2)
    assert client_hop("10.0.0.2", "[2001:db8::1]:4711", nets) == ("2001:db8::1", 1)
    assert client_hop("10.0.0.2", "not-an-address", nets) == ("10.0.0.2", 0)
    assert client_hop("fd00::2", "10.0.0.5, 10.0.0.1", nets) == ("10.0.0.5", 2)
    assert throttle_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert throttle_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert throttle_key("192.0.2.7") == "192.0.2.7" and throttle_key(None) is None
    with pytest.raises(ValueError, match="trusted_proxies"):
        parse_networks(["10.0.0.0/33"])
