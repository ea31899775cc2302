"""The throwaway slapd's guards (issue 17, weakness 7), against a real slapd and Dovecot.

Only the hub's bind writes `userPassword`; anonymous binds and reads are refused; the
password policy (ppolicy) locks an entry after repeated wrong binds, in step with the
hub's lockout, whether the guesses come over LDAP or IMAP; a password set by the hub
unlocks it; the hub's own bind is never locked. Dovecot delays failed logins.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import argon2
import ldap
import ldap.dn
import pytest

from connectors.base import AccountKey, Operation, OpKind
from idhub.engine.targets.passwords import ATTRIBUTE, SCHEME
from idhub.ops.devstack.mail import MailStack
from idhub.ops.devstack.slapd import Slapd
from tests.fixtures.ldap import (
    ADMIN_DN,
    ADMIN_PASSWORD,
    BASE_DN,
    HUB_PASSWORD,
    READER_PASSWORD,
    connector_for,
    make_slapd,
)
from tests.fixtures.mail import can_login, make_mail_stack

PASSWORD = "Mật-khẩu-của-Lan-2026"
_HASHER = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A slapd of this module's own: the tests lock entries on purpose."""
    with make_slapd(tmp_path_factory.mktemp("slapd-guards")) as running:
        yield running


def add_person(server: Slapd, base: str = BASE_DN, password: str = PASSWORD) -> tuple[str, str]:
    """A fresh active person with a password; (uid, DN). Its idhubPersonId is the uid."""
    uid = "u" + uuid.uuid4().hex[:10]
    person_id = uid
    dn = f"uid={ldap.dn.escape_dn_chars(uid)},{base}"
    entry = {
        "objectClass": [b"inetOrgPerson", b"idhubPerson"],
        "uid": [uid.encode()],
        "cn": [uid.encode()],
        "sn": [uid.encode()],
        "mail": [f"{uid}@laichau.gov.vn".encode()],
        "idhubPersonId": [person_id.encode()],
        "idhubAccountStatus": [b"active"],
        "idhubMailbox": [f"{uid[:3]}/{uid}".encode()],
        "userPassword": [("{ARGON2}" + _HASHER.hash(password)).encode()],
    }
    admin = server.connect()
    try:
        admin.add_s(dn, list(entry.items()))
    finally:
        admin.unbind_s()
    return uid, dn


def bind(server: Slapd, dn: str, password: str) -> ldap.ldapobject.LDAPObject:
    conn = ldap.initialize(server.url)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
    conn.simple_bind_s(dn, password)
    return conn


def can_bind(server: Slapd, dn: str, password: str) -> bool:
    try:
        bind(server, dn, password).unbind_s()
        return True
    except ldap.INVALID_CREDENTIALS:
        return False


def operational(server: Slapd, dn: str) -> dict[str, list[bytes]]:
    admin = server.connect()
    try:
        [(_dn, entry)] = admin.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["+"])
    finally:
        admin.unbind_s()
    return entry


# ------------------------------------------------------------------ who writes passwords


def test_a_user_cannot_write_their_own_password(server: Slapd) -> None:
    _uid, dn = add_person(server)
    user = bind(server, dn, PASSWORD)
    new_hash = ("{ARGON2}" + _HASHER.hash("tự đặt, bỏ qua chính sách")).encode()
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        user.modify_s(dn, [(ldap.MOD_REPLACE, "userPassword", [new_hash])])
    with pytest.raises((ldap.INSUFFICIENT_ACCESS, ldap.UNWILLING_TO_PERFORM)):
        user.passwd_s(dn, PASSWORD, "tự đặt, bỏ qua chính sách")
    user.unbind_s()
    assert can_bind(server, dn, PASSWORD)


def test_the_hubs_bind_still_writes_passwords(server: Slapd) -> None:
    uid, dn = add_person(server)
    connector = connector_for(server)
    try:
        connector.set_password_hash(
            AccountKey(uid), "{ARGON2}" + _HASHER.hash("mật khẩu mới từ hub")
        )
    finally:
        connector.close()
    assert can_bind(server, dn, "mật khẩu mới từ hub")
    assert not can_bind(server, dn, PASSWORD)


# ------------------------------------------------------------------ anonymous


def test_anonymous_binds_and_searches_are_refused(server: Slapd) -> None:
    add_person(server)
    with pytest.raises(ldap.INAPPROPRIATE_AUTH):
        ldap.initialize(server.url).simple_bind_s("", "")
    never_bound = ldap.initialize(server.url)
    with pytest.raises(ldap.UNWILLING_TO_PERFORM) as refused:
        never_bound.search_s(BASE_DN, ldap.SCOPE_SUBTREE, "(objectClass=*)")
    assert refused.value.args[0]["info"] == "authentication required"
    # A DN with an empty password ("unauthenticated bind") stays refused too.
    with pytest.raises(ldap.UNWILLING_TO_PERFORM):
        ldap.initialize(server.url).simple_bind_s(ADMIN_DN, "")


# ------------------------------------------------------------------ lockout


def test_six_wrong_binds_lock_the_entry(server: Slapd) -> None:
    _uid, dn = add_person(server)
    for _ in range(6):
        assert not can_bind(server, dn, "đoán sai")
    assert not can_bind(server, dn, PASSWORD)  # locked: the right password is refused
    assert "pwdAccountLockedTime" in operational(server, dn)


def test_a_password_set_by_the_hub_unlocks_the_entry(server: Slapd) -> None:
    uid, dn = add_person(server)
    for _ in range(6):
        assert not can_bind(server, dn, "đoán sai")
    assert not can_bind(server, dn, PASSWORD)
    connector = connector_for(server)
    try:  # the hub's reset: the modify its directory converge applies (engine/targets/passwords.py)
        phc = _HASHER.hash("mật khẩu sau khi đặt lại")
        reset = Operation(
            kind=OpKind.MODIFY,
            target=AccountKey(uid),
            attributes={ATTRIBUTE: (SCHEME + phc,)},
            reason="password set at the hub",
            current=dn,
        )
        [result] = connector.apply([reset])
        assert result.ok, result.error
    finally:
        connector.close()
    assert "pwdAccountLockedTime" not in operational(server, dn)
    assert can_bind(server, dn, "mật khẩu sau khi đặt lại")


def test_the_hubs_own_bind_is_never_locked(server: Slapd) -> None:
    for dn, password in (
        (ADMIN_DN, ADMIN_PASSWORD),
        (server.hub_dn, HUB_PASSWORD),
        (server.reader_dn, READER_PASSWORD),
    ):
        for _ in range(8):
            assert not can_bind(server, dn, "đoán sai")
        assert can_bind(server, dn, password), dn


# ------------------------------------------------------------------ least privilege


def test_the_hub_account_writes_the_tree_but_not_policies_or_service_accounts(
    server: Slapd,
) -> None:
    hub = bind(server, server.hub_dn, HUB_PASSWORD)
    try:
        assert hub.whoami_s() == f"dn:{server.hub_dn}"
        unit = f"ou=lp{uuid.uuid4().hex[:8]},{BASE_DN}"
        hub.add_s(unit, [("objectClass", [b"organizationalUnit"]), ("ou", [unit[3:13].encode()])])
        _uid, dn = add_person(server, unit)
        hub.modify_s(dn, [(ldap.MOD_REPLACE, "idhubAccountStatus", [b"disabled"])])
        hub.modify_s(dn, [(ldap.MOD_REPLACE, "userPassword", [b"{ARGON2}x"])])  # disabled too
        hub.rename_s(dn, "uid=moved", unit)
        hub.delete_s(f"uid=moved,{unit}")
        hub.delete_s(unit)
        for entry in (server.policy_dn, server.service_policy_dn, server.reader_dn):
            with pytest.raises((ldap.INSUFFICIENT_ACCESS, ldap.NO_SUCH_OBJECT)):
                hub.modify_s(entry, [(ldap.MOD_REPLACE, "description", [b"x"])])
            with pytest.raises(ldap.NO_SUCH_OBJECT):  # not even visible
                hub.search_s(entry, ldap.SCOPE_BASE, "(objectClass=*)")
        with pytest.raises((ldap.INSUFFICIENT_ACCESS, ldap.NO_SUCH_OBJECT)):
            hub.modify_s(server.hub_dn, [(ldap.MOD_REPLACE, "userPassword", [b"{SSHA}x"])])
    finally:
        hub.unbind_s()


def test_the_mail_account_reads_and_writes_nothing(server: Slapd) -> None:
    uid, dn = add_person(server)
    reader = bind(server, server.reader_dn, READER_PASSWORD)
    try:
        found = reader.search_s(
            BASE_DN, ldap.SCOPE_SUBTREE, f"(uid={uid})", ["mail", "idhubMailbox", "userPassword"]
        )
        assert [d for d, _ in found] == [dn]
        assert "userPassword" not in found[0][1] and "idhubMailbox" in found[0][1]
        with pytest.raises(ldap.INSUFFICIENT_ACCESS):
            reader.modify_s(dn, [(ldap.MOD_REPLACE, "idhubAccountStatus", [b"disabled"])])
        with pytest.raises(ldap.INSUFFICIENT_ACCESS):
            reader.add_s(
                f"ou=nope,{BASE_DN}", [("objectClass", [b"organizationalUnit"]), ("ou", [b"nope"])]
            )
        with pytest.raises(ldap.INSUFFICIENT_ACCESS):
            reader.delete_s(dn)
    finally:
        reader.unbind_s()


# ------------------------------------------------------------------ IMAP guessing


def test_dovecot_delays_and_penalises_failed_logins_by_default(
    mail_tmp: Path, server: Slapd
) -> None:
    plain = make_mail_stack(mail_tmp, server)
    stack = MailStack(plain.directory, plain.ldap)  # the defaults `make run` uses
    stack._prepare_dovecot()
    conf = stack.dovecot_conf.read_text()
    assert "auth_failure_delay = 2 secs" in conf
    # anvil's growing penalty (2 → 15 s per source address) is left on: its socket
    # is not switched off.
    assert "anvil-auth-penalty" not in conf


@pytest.fixture
def guarded_mail(mail_tmp: Path, server: Slapd) -> Iterator[MailStack]:
    """A mail stack whose failed logins wait Dovecot's default 2 s (anvil's growing
    penalty off: it would make this test wait 2 + 4 + 8 + 15 s)."""
    plain = make_mail_stack(mail_tmp, server)
    with MailStack(plain.directory, plain.ldap, auth_penalty=False) as stack:
        yield stack


def test_imap_guessing_is_delayed_then_locked(server: Slapd, guarded_mail: MailStack) -> None:
    uid, dn = add_person(server)
    started = time.monotonic()
    assert not can_login(guarded_mail, uid, "đoán sai")
    # A lower bound, not a performance figure: Dovecot counts the 2 s delay in whole
    # seconds of its clock, so a failure answers after 1 to 3 s.
    assert time.monotonic() - started >= 1.0
    for _ in range(5):
        assert not can_login(guarded_mail, uid, "đoán sai")
    assert not can_login(guarded_mail, uid, PASSWORD)  # ppolicy locked the entry
    assert "pwdAccountLockedTime" in operational(server, dn)
