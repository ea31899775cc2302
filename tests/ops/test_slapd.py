"""The throwaway slapd, our schema and the LDAP connector, against a real slapd."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import argon2
import ldap
import ldap.dn
import ldap.modlist
import pytest

from connectors.base import (
    AccountKey,
    Conflict,
    KeyKind,
    TargetMisconfigured,
    TargetUnavailable,
)
from idhub.ops.devstack.slapd import Slapd, SlapdError
from tests.fixtures.ldap import ADMIN_DN, ADMIN_PASSWORD, BASE_DN, connector_for, make_slapd

NASTY_KEY = "*)(\\ Nguyễn Đức Thắng"


def add(conn: ldap.ldapobject.LDAPObject, dn: str, **attrs: str | list[str]) -> None:
    entry = {
        name: [v.encode() for v in ([values] if isinstance(values, str) else values)]
        for name, values in attrs.items()
    }
    conn.add_s(dn, ldap.modlist.addModlist(entry))


def add_person(
    conn: ldap.ldapobject.LDAPObject, uid: str, person_id: str, parent: str = BASE_DN, **extra: str
) -> str:
    dn = f"uid={ldap.dn.escape_dn_chars(uid)},{parent}"
    attrs: dict[str, str | list[str]] = {
        "objectClass": ["inetOrgPerson", "idhubPerson"],
        "uid": uid,
        "cn": uid,
        "sn": uid,
        "idhubPersonId": person_id,
    }
    add(conn, dn, **(attrs | extra))
    return dn


def read_entry(conn: ldap.ldapobject.LDAPObject, dn: str) -> dict[str, list[bytes]]:
    [(_dn, entry)] = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["*"])
    return entry


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """A slapd for the tests that write, so the shared session one stays clean."""
    with make_slapd(tmp_path_factory.mktemp("slapd-writes")) as running:
        yield running


# ---------------------------------------------------------------------- the server


def test_answers_an_admin_bind(slapd_server: Slapd) -> None:
    assert slapd_server.is_running()
    assert slapd_server.url == f"ldap://127.0.0.1:{slapd_server.port}"
    conn = slapd_server.connect()
    assert conn.whoami_s() == f"dn:{ADMIN_DN}"
    conn.unbind_s()


def test_base_entry_exists(slapd_server: Slapd) -> None:
    conn = slapd_server.connect()
    entry = read_entry(conn, BASE_DN)
    assert set(entry["objectClass"]) >= {b"dcObject", b"organization"}
    assert entry["dc"] == [b"idhub"]


def test_config_holds_no_plaintext_password(slapd_server: Slapd) -> None:
    conf = slapd_server.conf_path.read_text()
    assert ADMIN_PASSWORD not in conf
    assert "rootpw" in conf and "{ARGON2}$argon2id$" in conf
    assert slapd_server.conf_path.stat().st_mode & 0o077 == 0
    assert ADMIN_PASSWORD not in repr(slapd_server)


def test_our_schema_is_loaded(server: Slapd) -> None:
    conn = server.connect()
    dn = f"uid=schema.test,{BASE_DN}"
    add(
        conn,
        dn,
        objectClass=["inetOrgPerson", "idhubPerson", "inetLocalMailRecipient"],
        uid="schema.test",
        cn="Nguyễn Văn Schema",
        sn="Nguyễn",
        mail="schema.test@laichau.gov.vn",
        idhubPersonId="3F2504E0-4F89-11D3-9A0C-0305E82C3301",
        idhubAccountStatus="active",
        idhubMailAlias=["old.schema@laichau.gov.vn", "schema@tamduong.laichau.gov.vn"],
        idhubMailForward="boss@laichau.gov.vn",
        idhubMailQuota="1073741824",
        idhubMailbox="3f/3f2504e0-4f89-11d3-9a0c-0305e82c3301",
        idhubManaged="TRUE",
        mailLocalAddress="schema.test@laichau.gov.vn",  # misc.schema
    )
    entry = read_entry(conn, dn)
    assert entry["idhubPersonId"] == [b"3F2504E0-4F89-11D3-9A0C-0305E82C3301"]
    assert sorted(entry["idhubMailAlias"]) == [
        b"old.schema@laichau.gov.vn",
        b"schema@tamduong.laichau.gov.vn",
    ]
    assert entry["mailLocalAddress"] == [b"schema.test@laichau.gov.vn"]
    assert entry["idhubManaged"] == [b"TRUE"]

    # Matching rules: the UUID and the aliases compare case-insensitively, quota orders.
    def found(flt: str) -> list[str]:
        return [d for d, _ in conn.search_s(BASE_DN, ldap.SCOPE_SUBTREE, flt, ["1.1"])]

    assert found("(idhubPersonId=3f2504e0-4f89-11d3-9a0c-0305e82c3301)") == [dn]
    assert found("(idhubMailAlias=OLD.SCHEMA@LAICHAU.GOV.VN)") == [dn]
    assert found("(idhubMailAlias=*@tamduong.laichau.gov.vn)") == [dn]
    assert found("(&(idhubMailQuota>=1000)(idhubPersonId=3F2504E0*))") == []  # no SUBSTR
    assert found("(&(idhubMailQuota>=1000)(uid=schema.test))") == [dn]

    # MUST and SINGLE-VALUE are enforced.
    with pytest.raises(ldap.OBJECT_CLASS_VIOLATION):
        add(
            conn,
            f"uid=nokey,{BASE_DN}",
            objectClass=["inetOrgPerson", "idhubPerson"],
            uid="nokey",
            cn="x",
            sn="x",
        )
    with pytest.raises((ldap.CONSTRAINT_VIOLATION, ldap.OBJECT_CLASS_VIOLATION)):
        add_person(conn, "twokeys", "a", idhubMailQuota="1")  # fine so far …
        conn.modify_s(f"uid=twokeys,{BASE_DN}", [(ldap.MOD_ADD, "idhubPersonId", [b"b"])])
    with pytest.raises(ldap.INVALID_SYNTAX):
        conn.modify_s(dn, [(ldap.MOD_REPLACE, "idhubMailQuota", [b"lots"])])

    # Org units and groups take their auxiliary classes.
    add(
        conn,
        f"ou=Xã Tam Đường,{BASE_DN}",
        objectClass=["organizationalUnit", "idhubOrgUnit"],
        ou="Xã Tam Đường",
        idhubUnitId="unit-1",
        idhubManaged="TRUE",
    )
    group = f"cn=ke-toan,{BASE_DN}"
    add(
        conn,
        group,
        objectClass=["groupOfURLs", "idhubGroup"],
        cn="ke-toan",
        memberURL=f"ldap:///{BASE_DN}??sub?(idhubMemberOf={group})",
        idhubManaged="TRUE",
    )
    # Membership is on the member; dynlist shows it as the group's member.
    conn.modify_s(dn, [(ldap.MOD_ADD, "idhubMemberOf", [group.encode()])])
    [(_dn, entry)] = conn.search_s(group, ldap.SCOPE_BASE, "(objectClass=*)", ["member"])
    assert entry["member"] == [dn.encode()]
    conn.unbind_s()


def test_acl_users_read_anonymous_refused(server: Slapd) -> None:
    admin = server.connect()
    user_password = "mật khẩu của Lan"
    dn = add_person(
        admin,
        "acl.lan",
        "acl-1",
        userPassword="{ARGON2}" + argon2.PasswordHasher().hash(user_password),
    )
    add_person(
        admin, "acl.other", "acl-2", userPassword="{ARGON2}" + argon2.PasswordHasher().hash("x")
    )

    user = ldap.initialize(server.url)
    user.simple_bind_s(dn, user_password)  # argon2 module verifies the {ARGON2} hash
    assert user.whoami_s() == f"dn:{dn}"
    other = read_entry(user, f"uid=acl.other,{BASE_DN}")
    assert other["uid"] == [b"acl.other"]
    assert "userPassword" not in other  # users don't see each other's hashes
    with pytest.raises(ldap.INVALID_CREDENTIALS):
        ldap.initialize(server.url).simple_bind_s(dn, "wrong")

    # Anonymous binds are refused (tests/ops/test_slapd_security.py checks the rest).
    with pytest.raises(ldap.INAPPROPRIATE_AUTH):
        ldap.initialize(server.url).simple_bind_s("", "")
    # A DN with an empty password ("unauthenticated bind") is refused, not anonymous.
    with pytest.raises(ldap.UNWILLING_TO_PERFORM):
        ldap.initialize(server.url).simple_bind_s(dn, "")


def test_restart_on_the_same_folder_keeps_data(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as first:
        conn = first.connect()
        add_person(conn, "persist", "persist-1")
        conn.unbind_s()
    assert not first.is_running()
    assert not first.pid_path.exists()  # clean stop removes the pidfile

    with make_slapd(tmp_path) as second:
        entry = read_entry(second.connect(), f"uid=persist,{BASE_DN}")
        assert entry["idhubPersonId"] == [b"persist-1"]


def test_stale_pidfile_after_sigkill_does_not_block_start(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as first:
        conn = first.connect()
        add_person(conn, "survivor", "survivor-1")
        conn.unbind_s()
        assert first.pid is not None
        os.kill(first.pid, signal.SIGKILL)
        assert first._proc is not None
        first._proc.wait(5)
        assert first.pid_path.exists()  # slapd had no chance to remove it
    assert not first.is_running()  # stop() on a dead process is a no-op

    with make_slapd(tmp_path) as second:
        entry = read_entry(second.connect(), f"uid=survivor,{BASE_DN}")
        assert entry["idhubPersonId"] == [b"survivor-1"]
        # …but a live slapd on the folder is never started twice.
        with pytest.raises(SlapdError, match="still serving"):
            make_slapd(tmp_path).start()


def test_bad_config_is_reported_with_slaptest_output(tmp_path: Path) -> None:
    server = Slapd(
        tmp_path,
        base_dn="dc=idhub,dc=gov,dc=vn",
        admin_dn="cn=admin,dc=other",
        admin_password="x",
    )
    server._render_config = lambda: "database nonsense\n"  # type: ignore[method-assign]
    with pytest.raises(SlapdError, match="slaptest rejected"):
        server.start()
    assert not server.is_running()


def test_port_in_use_fails_fast_with_the_log(tmp_path: Path, slapd_server: Slapd) -> None:
    server = make_slapd(tmp_path, port=slapd_server.port)
    started = time.monotonic()
    with pytest.raises(SlapdError, match="already in use"):
        server.start()
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------------- the connector


def test_connector_check_ok(slapd_server: Slapd) -> None:
    connector = connector_for(slapd_server)
    health = connector.check()
    assert health.ok, health.detail
    assert BASE_DN in health.detail
    assert health.latency_ms > 0
    assert connector.check().ok  # the persistent connection is reused
    connector.close()
    assert connector.check().ok  # and reopened after close()


def test_check_reports_a_stopped_server_without_the_password(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as server:
        connector = connector_for(server, timeout_s=1.0)
        assert connector.check().ok
        server.stop()

        health = connector.check()  # no exception
        assert not health.ok
        assert "Can't contact LDAP server" in health.detail
        assert ADMIN_PASSWORD not in health.detail
        assert ADMIN_PASSWORD not in repr(connector)
        assert ADMIN_PASSWORD not in repr(connector.config)

        server.start()  # same port: the connector reconnects by itself
        assert connector.check().ok


def test_check_reports_wrong_credentials(slapd_server: Slapd) -> None:
    wrong = "wrong-" + ADMIN_PASSWORD
    connector = connector_for(slapd_server, password=wrong)
    health = connector.check()
    assert not health.ok
    assert "Invalid credentials" in health.detail
    assert wrong not in health.detail and ADMIN_PASSWORD not in health.detail
    with pytest.raises(TargetMisconfigured) as caught:
        connector.read(AccountKey("x"))
    assert caught.value.retry  # a settings fault: jobs wait, they don't fail for good


def _wait_stopped(pid: int, timeout: float = 5.0) -> None:
    """Until the kernel reports every thread of `pid` stopped (SIGSTOP is not instant)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
            try:
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
            except (OSError, IndexError):
                continue
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise AssertionError(f"slapd {pid} did not stop")


def test_check_times_out_on_a_hung_server(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as server:
        connector = connector_for(server, timeout_s=1.0)
        assert connector.check().ok  # an open connection, then the server hangs
        assert server.pid is not None
        os.kill(server.pid, signal.SIGSTOP)
        try:
            _wait_stopped(server.pid)  # every thread, or one may still answer
            started = time.monotonic()
            health = connector.check()  # the search times out
            assert not health.ok and "Timed out" in health.detail, health.detail
            fresh = connector_for(server, timeout_s=1.0).check()  # the bind times out
            assert not fresh.ok
            assert time.monotonic() - started < 6
            with pytest.raises(TargetUnavailable):
                connector.read(AccountKey("x"))
        finally:
            os.kill(server.pid, signal.SIGCONT)
        assert connector.check().ok  # recovered on a new connection


def test_check_reports_a_missing_base(slapd_server: Slapd) -> None:
    connector = connector_for(slapd_server)
    object.__setattr__(connector.config, "base_dn", f"ou=nowhere,{BASE_DN}")
    health = connector.check()
    assert not health.ok
    assert "does not exist" in health.detail


def test_read_escapes_filter_metacharacters(server: Slapd) -> None:
    conn = server.connect()
    add_person(conn, "meta.decoy", "meta-decoy")
    connector = connector_for(server)

    # Unescaped, "*" or "*)(…" would match the decoy or break the filter.
    assert connector.read(AccountKey(NASTY_KEY)) is None
    assert connector.read(AccountKey("*")) is None
    assert connector.read(AccountKey("meta-*")) is None

    dn = add_person(conn, "nguyen.duc.thang", NASTY_KEY, cn="Nguyễn Đức Thắng")
    account = connector.read(AccountKey(NASTY_KEY))
    assert account is not None
    assert account.key == AccountKey(NASTY_KEY)
    assert account.name == dn
    assert account.get("cn") == ("Nguyễn Đức Thắng",)
    assert account.get("IDHUBPERSONID") == (NASTY_KEY,)
    assert account.groups == frozenset()
    assert connector.read(AccountKey("meta-decoy")).name == f"uid=meta.decoy,{BASE_DN}"  # type: ignore[union-attr]
    conn.unbind_s()


def test_read_units_groups_and_duplicates(server: Slapd) -> None:
    conn = server.connect()
    unit_dn = f"ou=Phường Đoàn Kết,{BASE_DN}"
    add(
        conn,
        unit_dn,
        objectClass=["organizationalUnit", "idhubOrgUnit"],
        ou="Phường Đoàn Kết",
        idhubUnitId="unit-doan-ket",
    )
    person_dn = add_person(
        conn,
        "member.one",
        "member-1",
        parent=unit_dn,
        userPassword="{ARGON2}" + argon2.PasswordHasher().hash("x"),
    )
    group_dn = f"cn=van-thu,{BASE_DN}"
    add(
        conn,
        group_dn,
        objectClass=["groupOfNames", "idhubGroup"],
        cn="van-thu",
        member=person_dn.upper(),
    )  # DN matching ignores case

    connector = connector_for(server)
    unit = connector.read(AccountKey("UNIT-DOAN-KET", KeyKind.UNIT))
    assert unit is not None and unit.name == unit_dn and unit.groups is None
    group = connector.read(AccountKey("van-thu", KeyKind.GROUP))
    assert group is not None
    [member] = group.get("member")
    assert ldap.dn.str2dn(member.lower()) == ldap.dn.str2dn(person_dn.lower())
    person = connector.read(AccountKey("member-1"))
    assert person is not None
    # Account.groups are the hub's memberships, kept on the member (idhubMemberOf);
    # a static group made by hand is not one of them (slapd still shows it in memberOf).
    assert person.groups == frozenset()
    [(_dn, seen)] = conn.search_s(person_dn, ldap.SCOPE_BASE, "(objectClass=*)", ["memberOf"])
    assert [v.decode().lower() for v in seen["memberOf"]] == [group_dn.lower()]
    hub_group = f"cn=ke-toan,{BASE_DN}"
    conn.modify_s(person_dn, [(ldap.MOD_ADD, "idhubMemberOf", [hub_group.upper().encode()])])
    person = connector.read(AccountKey("member-1"))
    assert person is not None and person.groups == frozenset({hub_group})
    assert person.get("idhubMemberOf") == ()  # in .groups, normalised
    assert person.get("userPassword") == ()  # hashes never leave the connector

    add_person(conn, "member.clone", "member-1")
    with pytest.raises(Conflict, match="2 entries claim person:member-1"):
        connector.read(AccountKey("member-1"))
    conn.unbind_s()


def test_dn_escaping_round_trips(server: Slapd) -> None:
    conn = server.connect()
    value = ' Lê, Văn+Tám "Bé" <Út>; #1\\ '
    dn = f"cn={ldap.dn.escape_dn_chars(value)},{BASE_DN}"
    add(
        conn,
        dn,
        objectClass=["inetOrgPerson", "idhubPerson"],
        cn=value,
        sn="Lê",
        idhubPersonId="dn-escape-1",
    )

    [(returned_dn, entry)] = conn.search_s(
        BASE_DN, ldap.SCOPE_SUBTREE, "(idhubPersonId=dn-escape-1)"
    )
    assert entry["cn"] == [value.encode()]
    rdn = ldap.dn.str2dn(returned_dn)[0]
    assert rdn[0][0].lower() == "cn" and rdn[0][1] == value
    assert ldap.dn.str2dn(returned_dn)[1:] == ldap.dn.str2dn(BASE_DN)
    read_entry(conn, returned_dn)  # the server's DN string addresses the entry again

    account = connector_for(server).read(AccountKey("dn-escape-1"))
    assert account is not None and ldap.dn.str2dn(account.name)[0][0][1] == value
    conn.unbind_s()


def test_scan_pages_through_everything(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as server:
        conn = server.connect()
        add(conn, f"ou=people,{BASE_DN}", objectClass=["organizationalUnit"], ou="people")
        people = f"ou=people,{BASE_DN}"
        dns = [
            add_person(conn, f"user{i:04d}", f"person-{i:04d}", parent=people) for i in range(1203)
        ]
        add(
            conn,
            f"uid=not.ours,{people}",
            objectClass=["inetOrgPerson"],
            uid="not.ours",
            cn="x",
            sn="x",
        )
        staff = f"cn=all-staff,{BASE_DN}".encode()
        for dn in dns[:700]:
            conn.modify_s(dn, [(ldap.MOD_ADD, "idhubMemberOf", [staff])])
        conn.unbind_s()

        connector = connector_for(server)
        accounts = list(connector.scan())
        assert len(accounts) == 1203  # more than two pages of 500
        assert {a.key.id for a in accounts} == {f"person-{i:04d}" for i in range(1203)}
        by_id = {a.key.id: a for a in accounts}
        assert by_id["person-0000"].groups == frozenset({f"cn=all-staff,{BASE_DN}"})
        assert by_id["person-1000"].groups == frozenset()

        # Stopping early is fine, and the connection stays usable meanwhile and after.
        scan = connector.scan()
        first = next(scan)
        assert connector.read(first.key) == first
        scan.close()
        assert connector.check().ok
