"""connectors.mail against the real Dovecot (entries written by hand, no hub)."""

from __future__ import annotations

import tarfile
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
from tests.fixtures.mail import can_login, imap_login, make_mail_stack, send_mail, wait_for_subject
from tests.ops.test_mail_stack import PASSWORD, add_person, modify


def connector_for(stack, archive_dir) -> MailConnector:
    return MailConnector(
        MailConfig(
            doveadm_config=str(stack.dovecot_conf),
            mail_root=str(stack.mail_root),
            archive_dir=str(archive_dir),
        )
    )


def _box(key: str) -> str:
    return f"{key[:2]}/{key}"


def test_create_verifies_home_and_quota_then_disable_and_delete(
    slapd_server, ldap_base, mail_server, tmp_path
):
    key = str(uuid.uuid4())
    dn = add_person(
        slapd_server, ldap_base, "annv", mail="annv@laichau.gov.vn", mailbox=_box(key),
        quota=50_000_000,
    )  # fmt: skip
    mail = connector_for(mail_server, tmp_path / "archive")
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
    with tarfile.open(deleted.name) as tar:
        messages = [
            m for m in tar.getmembers() if "/Maildir/cur/" in m.name or "/Maildir/new/" in m.name
        ]
        assert len(messages) == 1
        assert "Subject: =?utf-8?" in tar.extractfile(messages[0]).read().decode()
    # a retried delete finds nothing and succeeds
    (again,) = mail.apply(
        [Operation(OpKind.DELETE, target, name=_box(key), attributes={"user": ("annv",)})]
    )
    assert again.ok and again.name is None


def test_bad_input_is_refused_and_unknown_users_reported(mail_server, tmp_path):
    mail = connector_for(mail_server, tmp_path)
    key = AccountKey(str(uuid.uuid4()))
    bad = [
        Operation(OpKind.CREATE, key, name="../../etc", attributes={"user": ("annv",)}),
        Operation(OpKind.DISABLE, key, attributes={"user": ("a b; rm",)}),
        Operation(OpKind.MOVE, key, name="x"),
    ]
    assert all(isinstance(r.error, InvalidData) for r in mail.apply(bad))
    (ghost,) = mail.apply(
        [Operation(OpKind.CREATE, key, name=_box(key.id), attributes={"user": ("ghost",)})]
    )
    assert isinstance(ghost.error, TargetMisconfigured) and "does not know" in str(ghost.error)


def test_dovecot_down_is_target_unavailable(mail_tmp, slapd_server, ldap_base, tmp_path):
    stack = make_mail_stack(mail_tmp, slapd_server, ldap_base)
    stack.start()
    mail = connector_for(stack, tmp_path)
    stack.stop()
    assert not mail.check().ok
    with pytest.raises(TargetUnavailable):
        mail.apply([Operation(OpKind.DISABLE, AccountKey("k1"), attributes={"user": ("annv",)})])
