"""The LDAP connector's connection: a server stopped mid-batch or absent
(TargetUnavailable, then the batch again), and a data folder started with the new
config."""

from __future__ import annotations

import threading
from pathlib import Path

import ldap
import pytest

from connectors.base import (
    AccountKey,
    Operation,
    OpKind,
    TargetUnavailable,
)
from connectors.ldap import LdapConnector
from idhub.ops.devstack.slapd import Slapd
from tests.fixtures.ldap import ADMIN_DN, ADMIN_PASSWORD, BASE_DN, connector_for, make_slapd
from tests.fixtures.ldap_connector import (
    GROUPS,
    count,
    create_person,
    ensure_unit,
    eventually,
    exists,
    group_dn,
    member,
    member_of,
    members_of,
    n,
    ok,
    op,
    person_dn,
)

# ---------------------------------------------------------------------- failures


def apply_in_background(
    connector: LdapConnector, batch: list[Operation]
) -> tuple[threading.Thread, list[object]]:
    """connector.apply(batch) in a thread; its Results or its exception land in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(connector.apply(batch))
        except Exception as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    return worker, outcome


def assert_cut_off(worker: threading.Thread, outcome: list[object]) -> None:
    """The batch ended because the server went away: raised, or said so in its Results."""
    worker.join(30)
    assert not worker.is_alive()
    [result] = outcome
    if isinstance(result, list):
        assert any(isinstance(r.error, TargetUnavailable) for r in result)
    else:
        assert isinstance(result, TargetUnavailable), result


def test_server_stopped_mid_batch_then_the_batch_again(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as server:
        admin = server.connect()
        admin.add_s(GROUPS, [("objectClass", [b"organizationalUnit"]), ("ou", [b"groups"])])
        admin.unbind_s()
        connector = connector_for(server, timeout_s=2.0)
        staff = ensure_unit("u-staff", "staff", BASE_DN)
        people = [create_person(f"k-{i}", f"user{i:05d}", str(staff.name)) for i in range(3000)]
        group = group_dn("everyone")
        batch = [
            staff,
            *people,
            *(member(OpKind.ADD_MEMBER, p.target.id, group, p.name) for p in people),
        ]

        worker, outcome = apply_in_background(connector, batch)
        watcher = server.connect()
        assert eventually(
            lambda: (
                exists(watcher, str(staff.name))
                and count(watcher, "(objectClass=idhubPerson)") >= 300
            ),
            timeout=10,
        )
        watcher.unbind_s()
        server.stop()
        assert_cut_off(worker, outcome)

        server.start()  # same port, same data: the same batch again
        results = connector.apply(batch)
        ok(results)
        check = server.connect()
        assert count(check, "(objectClass=idhubPerson)") == 3000
        ids = [
            e["idhubPersonId"][0]
            for _, e in check.search_s(
                BASE_DN, ldap.SCOPE_SUBTREE, "(objectClass=idhubPerson)", ["idhubPersonId"]
            )
        ]
        assert len(set(ids)) == 3000  # no duplicates
        assert members_of(check, group) == {n(str(p.name)) for p in people}
        check.unbind_s()
        connector.close()


def test_server_stopped_mid_moves_then_the_moves_again(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as server:
        connector = connector_for(server, timeout_s=2.0)
        old = ensure_unit("u-old", "old", BASE_DN)
        new = ensure_unit("u-new", "new", BASE_DN)
        people = [create_person(f"k-{i}", f"user{i:05d}", str(old.name)) for i in range(3000)]
        ok(connector.apply([old, new, *people]))
        batch = []
        for p in people:
            target = person_dn(p.attributes["uid"][0], str(new.name))
            batch += [
                Operation(OpKind.MOVE, p.target, name=target, current=p.name),
                Operation(OpKind.MODIFY, p.target, attributes={"ou": ("Mới",)}, current=target),
            ]
        worker, outcome = apply_in_background(connector, batch)
        watcher = server.connect()
        assert eventually(
            lambda: count(watcher, "(objectClass=idhubPerson)", str(new.name)) >= 300, timeout=10
        )
        watcher.unbind_s()
        server.stop()
        assert_cut_off(worker, outcome)

        server.start()  # the same batch again, with the DNs the planner read before
        ok(connector.apply(batch))
        check = server.connect()
        assert count(check, "(objectClass=idhubPerson)", str(new.name)) == 3000
        assert count(check, "(objectClass=idhubPerson)", str(old.name)) == 0
        assert count(check, "(ou=Mới)", str(new.name)) == 3000
        check.unbind_s()
        connector.close()


def test_apply_against_a_stopped_server_raises(tmp_path: Path) -> None:
    with make_slapd(tmp_path) as server:
        connector = connector_for(server, timeout_s=1.0)
        assert connector.check().ok
        server.stop()
        with pytest.raises(TargetUnavailable):
            connector.apply([op(OpKind.DISABLE, "x", f"uid=x,{BASE_DN}")])
        with pytest.raises(TargetUnavailable):
            connector.read_many([AccountKey("x")])


# ---------------------------------------------------------------------- the config


def test_an_existing_data_folder_starts_with_the_new_config(tmp_path: Path) -> None:
    """`make run` reuses var/slapd: data written under the previous slapd.conf (no
    overlays, fewer indexes) must start, and be found by the new indexes."""

    class OldSlapd(Slapd):
        def _render_config(self) -> str:
            skip = (
                "overlay",
                "dynlist-",
                "index   idhubMemberOf",
                "index   idhubAccountStatus",
                "moduleload      dynlist",
                "moduleload      ppolicy",
                "ppolicy_",
            )
            return "\n".join(
                line for line in super()._render_config().splitlines() if not line.startswith(skip)
            )

        def _ensure_password_policy(self) -> None:  # no ppolicy back then
            pass

    old = OldSlapd(tmp_path, base_dn=BASE_DN, admin_dn=ADMIN_DN, admin_password=ADMIN_PASSWORD)
    with old:
        assert not [
            line for line in old.conf_path.read_text().splitlines() if line.startswith("overlay")
        ]
        conn = old.connect()
        conn.add_s(GROUPS, [("objectClass", [b"organizationalUnit"]), ("ou", [b"groups"])])
        conn.add_s(
            f"uid=early,{BASE_DN}",
            [
                ("objectClass", [b"inetOrgPerson", b"idhubPerson"]),
                ("uid", [b"early"]),
                ("cn", [b"early"]),
                ("sn", [b"early"]),
                ("idhubPersonId", [b"early"]),
                ("idhubAccountStatus", [b"active"]),
            ],
        )
        conn.unbind_s()

    with make_slapd(tmp_path) as new:
        conn = new.connect()
        # The index added since is rebuilt at start (else this search finds nothing).
        assert count(conn, "(&(uid=early)(idhubAccountStatus=active))") == 1
        connector = connector_for(new)
        group = group_dn("later")
        ok(connector.apply([member(OpKind.ADD_MEMBER, "early", group, f"uid=early,{BASE_DN}")]))
        assert member_of(conn, f"uid=early,{BASE_DN}") == {n(group)}  # new changes: memberOf
        conn.unbind_s()
        connector.close()
