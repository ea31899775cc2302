"""connectors.mail against the real Dovecot (entries written by hand, no hub), through
the doveadm HTTP API and through the doveadm binary."""

from __future__ import annotations

import pwd
import uuid

import pytest

from connectors.base import (
    AccountKey,
    InvalidData,
    Operation,
    OpKind,
    TargetMisconfigured,
    TargetUnavailable,
)
from connectors.mail import MailConfig, MailConnector
from tests.fixtures.mail import (
    archived_messages,
    can_login,
    imap_login,
    make_mail_stack,
    send_mail,
    wait_for_subject,
)
from tests.ops.test_mail_stack import PASSWORD, add_person, modify


def connector_for(stack, archive_dir, api: bool = True, access: str = "doveadm") -> MailConnector:
    return MailConnector(
        MailConfig(
            doveadm_config=str(stack.dovecot_conf),
            mail_root=str(stack.mail_root),
            archive_dir=str(archive_dir),
            doveadm_url=stack.doveadm_url if api else "",
            doveadm_password=stack.doveadm_password if api else "",
            mailbox_access=access,
            doveadm_ca_file=str(stack.tls.ca_file),
        )
    )


@pytest.fixture(params=[True, False], ids=["http-api", "binary"])
def api(request) -> bool:
    """Both ways to Dovecot: the doveadm HTTP API, one doveadm process per command."""
    return request.param


@pytest.fixture(params=["doveadm", "files"])
def access(request) -> str:
    """Both ways to the Maildirs: through doveadm only, or on a mounted file system."""
    return request.param


def _box(key: str) -> str:
    return f"{key[:2]}/{key}"


def test_create_verifies_home_and_quota_then_disable_and_delete(
    slapd_server, ldap_base, mail_server, api, access
):
    key = str(uuid.uuid4())
    dn = add_person(
        slapd_server, ldap_base, "annv", mail="annv@laichau.gov.vn", mailbox=_box(key),
        quota=50_000_000,
    )  # fmt: skip
    # archives on the mail host (doveadm) are written by doveadm: a folder it may write
    archive_dir = mail_server.directory / f"archive-{key}"
    mail = connector_for(mail_server, archive_dir, api, access)
    assert mail.check().ok
    target = AccountKey(key)
    assert mail.read_location(target, _box(key)) is None
    create = Operation(
        OpKind.CREATE,
        target,
        name=_box(key),
        attributes={"user": ("annv",), "quota": ("50000000",)},
    )
    (result,) = mail.apply([create])
    assert result.ok, result.error
    assert mail.read_location(target, _box(key)).name == _box(key)
    assert mail.read(target).name == _box(key)
    assert target in {a.key for a in mail.scan()}  # (the session stack holds others too)
    # a quota the directory does not hold is reported
    small = {"user": ("annv",), "quota": ("1000",)}
    (wrong,) = mail.apply([Operation(OpKind.CREATE, target, name=_box(key), attributes=small)])
    assert isinstance(wrong.error, TargetMisconfigured) and "KiB" in str(wrong.error)
    # mail arrives; the account is disabled: the cached login and the session end at once
    send_mail(mail_server, "annv@laichau.gov.vn", "Công văn số 12")
    wait_for_subject(mail_server, "annv", PASSWORD, "Công văn số 12")
    session = imap_login(mail_server, "annv", PASSWORD)
    modify(slapd_server, dn, idhubAccountStatus=["disabled"])
    (disabled,) = mail.apply([Operation(OpKind.DISABLE, target, attributes={"user": ("annv",)})])
    assert disabled.ok, disabled.error
    assert not can_login(mail_server, "annv", PASSWORD)
    with pytest.raises(Exception):  # noqa: B017 - kicked: the server closed the session
        session.noop()
    # delete: archived first, the archive holds the message
    (deleted,) = mail.apply(
        [Operation(OpKind.DELETE, target, name=_box(key), attributes={"user": ("annv",)})]
    )
    assert deleted.ok, deleted.error
    assert mail.read_location(target, _box(key)) is None
    assert not (mail_server.mail_root / _box(key)).exists()  # nothing left behind
    assert deleted.name.startswith(str(archive_dir / key))
    (message,) = archived_messages(deleted.name)
    assert "Subject: =?utf-8?" in message.decode()
    # a retried delete finds nothing and succeeds
    (again,) = mail.apply(
        [Operation(OpKind.DELETE, target, name=_box(key), attributes={"user": ("annv",)})]
    )
    assert again.ok and again.name is None


def test_bad_input_is_refused_and_unknown_users_reported(mail_server, tmp_path, api):
    mail = connector_for(mail_server, tmp_path, api)
    key = AccountKey(str(uuid.uuid4()))
    bad = [
        Operation(OpKind.CREATE, key, name="../../etc", attributes={"user": ("annv",)}),
        Operation(OpKind.DISABLE, key, attributes={"user": ("a b; rm",)}),
        Operation(OpKind.MOVE, key, name="x"),
        Operation(
            OpKind.DELETE, AccountKey("../../etc"), name=_box(key.id), attributes={"user": ("a",)}
        ),
    ]
    assert all(isinstance(r.error, InvalidData) for r in mail.apply(bad))
    (ghost,) = mail.apply(
        [Operation(OpKind.CREATE, key, name=_box(key.id), attributes={"user": ("ghost",)})]
    )
    assert isinstance(ghost.error, TargetMisconfigured) and "does not know" in str(ghost.error)


def test_dovecot_down_is_target_unavailable(mail_tmp, slapd_server, ldap_base, tmp_path, api):
    stack = make_mail_stack(mail_tmp, slapd_server, ldap_base)
    stack.start()
    mail = connector_for(stack, tmp_path, api)
    stack.stop()
    assert not mail.check().ok
    with pytest.raises(TargetUnavailable):
        mail.apply([Operation(OpKind.DISABLE, AccountKey("k1"), attributes={"user": ("annv",)})])


class Counting:
    """A transport that counts the requests (HTTP) or processes (binary) it makes."""

    def __init__(self, inner) -> None:
        self.inner, self.calls, self.commands = inner, 0, 0
        self.batches_users = inner.batches_users

    def run(self, commands):
        self.calls += 1
        self.commands += len(commands)
        return self.inner.run(commands)


def test_a_batch_converges_together_and_a_bad_item_fails_alone(
    slapd_server, ldap_base, mail_server, tmp_path, api, access
):
    people = []
    for n in range(20):
        key = str(uuid.uuid4())
        dn = add_person(slapd_server, ldap_base, f"bulk{n}", mail=f"bulk{n}@laichau.gov.vn",
                        mailbox=_box(key), quota=10_000_000)  # fmt: skip
        people.append((key, f"bulk{n}", dn))
    mail = connector_for(mail_server, tmp_path, api, access)
    mail.transport = counting = Counting(mail.transport)
    creates = [
        Operation(OpKind.CREATE, AccountKey(key), name=_box(key),
                  attributes={"user": (uid,), "quota": ("10000000",)})
        for key, uid, _ in people
    ]  # fmt: skip
    ghost = str(uuid.uuid4())
    bad = [
        Operation(
            OpKind.CREATE, AccountKey(ghost), name=_box(ghost), attributes={"user": ("ghost",)}
        ),
        Operation(OpKind.CREATE, AccountKey(people[0][0]), name=_box(people[0][0]),
                  attributes={"user": (people[0][1],), "quota": ("1000",)}),
        Operation(OpKind.CREATE, AccountKey(ghost), name="../../etc", attributes={"user": ("x",)}),
        Operation(OpKind.DISABLE, AccountKey(ghost), attributes={"user": ("a b",)}),
    ]  # fmt: skip
    results = mail.apply([*creates[:10], *bad, *creates[10:]])
    good = results[:10] + results[14:]
    assert all(r.ok for r in good), [r.error for r in good if not r.ok]
    ghost_r, quota_r, path_r, user_r = results[10:14]
    assert isinstance(ghost_r.error, TargetMisconfigured) and "does not know" in str(ghost_r.error)
    assert isinstance(quota_r.error, TargetMisconfigured) and "KiB" in str(quota_r.error)
    assert isinstance(path_r.error, InvalidData) and isinstance(user_r.error, InvalidData)
    if api:  # one request for the batch, one more to find who is unknown; with doveadm
        # access, one to see that nothing blocks the new Maildirs and one to make them
        assert counting.calls == 2 + 2 * (access == "doveadm"), counting.calls
    for key, _, _ in people:
        maildir = mail_server.mail_root / _box(key) / "Maildir"
        assert maildir.is_dir() and (maildir / "cur").is_dir()
        assert maildir.stat().st_uid == pwd.getpwnam("mail").pw_uid
        assert mail.read_location(AccountKey(key), _box(key)) is not None
    # Dovecot takes the Maildirs as its own: quota applied, mail delivered and read
    table = mail_server.doveadm("-f", "tab", "quota", "get", "-u", "bulk3").stdout
    assert "\tSTORAGE\t0\t9766\t" in table
    send_mail(mail_server, "bulk3@laichau.gov.vn", "Thông báo chung")
    wait_for_subject(mail_server, "bulk3", PASSWORD, "Thông báo chung")
    # several accounts shut out in one batch: cached logins and open sessions end
    sessions = [imap_login(mail_server, uid, PASSWORD) for _, uid, _ in people[:3]]
    for _, _, dn in people[:3]:
        modify(slapd_server, dn, idhubAccountStatus=["disabled"])
    counting.calls = 0
    disables = mail.apply(
        [
            Operation(OpKind.DISABLE, AccountKey(k), attributes={"user": (u,)})
            for k, u, _ in people[:3]
        ]
    )
    assert all(r.ok for r in disables), [r.error for r in disables]
    if api:
        assert counting.calls == 1
    for (_, uid, _), session in zip(people[:3], sessions, strict=True):
        assert not can_login(mail_server, uid, PASSWORD)
        with pytest.raises(Exception):  # noqa: B017 - kicked: the server closed the session
            session.noop()
    assert can_login(mail_server, people[3][1], PASSWORD)


def test_a_file_where_the_mailbox_goes_is_refused_for_that_item(
    slapd_server, ldap_base, mail_server, tmp_path, access
):
    keys = [str(uuid.uuid4()) for _ in range(2)]
    for n, key in enumerate(keys):
        add_person(
            slapd_server, ldap_base, f"file{n}", mail=f"file{n}@lc.gov.vn", mailbox=_box(key)
        )
    blocked = mail_server.mail_root / _box(keys[0])
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a mailbox")
    mail = connector_for(mail_server, tmp_path, access=access)
    results = mail.apply(
        [Operation(OpKind.CREATE, AccountKey(k), name=_box(k), attributes={"user": (f"file{n}",)})
         for n, k in enumerate(keys)]
    )  # fmt: skip
    assert isinstance(results[0].error, InvalidData), results[0].error
    assert results[1].ok and (mail_server.mail_root / _box(keys[1]) / "Maildir").is_dir()
