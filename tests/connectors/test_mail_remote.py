"""The mail target with `mailbox_access = "doveadm"`: the hub never touches the mail
store's files (it may run on another host), a mailbox is never removed before its whole
archive is written, a removal cut short is finished, and the doveadm API's certificate
is checked."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from connectors.base import AccountKey, InvalidData, Operation, OpKind, TargetMisconfigured
from connectors.mail import MailConfig, MailConnector
from connectors.maildirs import Made, RemoteMaildirs
from tests.connectors.test_mail_connector import connector_for
from tests.fixtures.mail import archived_messages, send_mail, wait_for_subject
from tests.fixtures.tls import make_pki
from tests.ops.test_mail_stack import PASSWORD, add_person

_TOUCHING = {"open", "os.mkdir", "os.listdir", "os.scandir", "os.remove", "os.rename",
             "os.rmdir", "os.chown", "os.chmod", "shutil.rmtree", "os.replace",
             "glob.glob"}  # fmt: skip
_watch: dict[str, object] = {"roots": (), "seen": []}


def _hook(event: str, args: tuple) -> None:
    roots = _watch["roots"]
    if not roots or event not in _TOUCHING or not args:
        return
    path = args[0]
    if isinstance(path, bytes | str | Path) and str(path).startswith(roots):  # type: ignore[arg-type]
        _watch["seen"].append((event, str(path)))  # type: ignore[union-attr]


sys.addaudithook(_hook)  # audit hooks cannot be removed: it only records while watched


def _box(key: str) -> str:
    return f"{key[:2]}/{key}"


def _op(kind: OpKind, key: str, uid: str, **attributes) -> Operation:
    name = _box(key) if kind in (OpKind.CREATE, OpKind.DELETE) else None
    return Operation(kind, AccountKey(key), name=name, attributes={"user": (uid,), **attributes})


def test_the_whole_life_of_a_mailbox_without_touching_the_mail_store(
    slapd_server, ldap_base, mail_server
):
    key = str(uuid.uuid4())
    add_person(slapd_server, ldap_base, "remote1", mail="remote1@laichau.gov.vn", mailbox=_box(key))
    archive_dir = mail_server.directory / f"archive-{key}"
    mail = connector_for(mail_server, archive_dir)
    send_mail(mail_server, "remote1@laichau.gov.vn", "Giấy mời họp")  # Dovecot makes INBOX
    wait_for_subject(mail_server, "remote1", PASSWORD, "Giấy mời họp")
    _watch["roots"], _watch["seen"] = (str(mail_server.mail_root), str(archive_dir)), []
    try:
        assert mail.check().ok
        (created,) = mail.apply([_op(OpKind.CREATE, key, "remote1")])  # already there: kept
        assert created.ok, created.error
        assert mail.read_location(AccountKey(key), _box(key)) is not None
        assert mail.read(AccountKey(key)).name == _box(key)
        assert AccountKey(key) in {a.key for a in mail.scan()}
        (disabled,) = mail.apply([_op(OpKind.DISABLE, key, "remote1")])
        (deleted,) = mail.apply([_op(OpKind.DELETE, key, "remote1")])
        assert disabled.ok and deleted.ok, (disabled.error, deleted.error)
        assert mail.read_location(AccountKey(key), _box(key)) is None
    finally:
        seen, _watch["roots"] = list(_watch["seen"]), ()
    assert seen == []  # everything went through doveadm
    assert not (mail_server.mail_root / _box(key)).exists()
    (message,) = archived_messages(deleted.name)
    assert "Subject:" in message.decode() and key in deleted.name


def test_no_mailbox_is_removed_before_its_archive_is_whole(
    slapd_server, ldap_base, mail_server, tmp_path
):
    key = str(uuid.uuid4())
    add_person(slapd_server, ldap_base, "remote2", mail="remote2@laichau.gov.vn", mailbox=_box(key))
    send_mail(mail_server, "remote2@laichau.gov.vn", "Báo cáo quý")
    wait_for_subject(mail_server, "remote2", PASSWORD, "Báo cáo quý")
    blocker = mail_server.directory / f"blocker-{key}"
    blocker.write_text("a file where the archive folder should be")
    mail = connector_for(mail_server, blocker / "archive")
    (refused,) = mail.apply([_op(OpKind.DELETE, key, "remote2")])
    assert isinstance(refused.error, InvalidData) and "cannot archive" in str(refused.error)
    assert mail.read_location(AccountKey(key), _box(key)) is not None  # nothing lost
    # archives cut short never hold .complete; a working archive folder and it goes through
    mail = connector_for(mail_server, mail_server.directory / f"archive-{key}")
    (deleted,) = mail.apply([_op(OpKind.DELETE, key, "remote2")])
    assert deleted.ok, deleted.error
    (message,) = archived_messages(deleted.name)
    assert "Subject:" in message.decode()


def test_a_removal_cut_short_is_finished_by_the_next_round(slapd_server, ldap_base, mail_server):
    key = str(uuid.uuid4())
    add_person(slapd_server, ldap_base, "remote3", mail="remote3@laichau.gov.vn", mailbox=_box(key))
    mail = connector_for(mail_server, mail_server.directory / f"archive-{key}")
    (created,) = mail.apply([_op(OpKind.CREATE, key, "remote3")])
    assert created.ok, created.error
    maildir = mail_server.mail_root / _box(key) / "Maildir"
    # as if the worker died midway: files and other folders gone, INBOX's cur still there
    for path in sorted(maildir.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file():
            path.unlink()
        elif path != maildir / "cur":
            path.rmdir()
    assert mail.read_location(AccountKey(key), _box(key)) is not None  # still a mailbox
    (deleted,) = mail.apply([_op(OpKind.DELETE, key, "remote3")])
    assert deleted.ok, deleted.error
    assert not (mail_server.mail_root / _box(key)).exists()


def test_a_mailbox_dovecot_cannot_make_fails_alone(slapd_server, ldap_base, mail_server):
    """Dovecot ends its doveadm process on some storage errors, answering nothing for the
    whole request: the connector finds which mailbox it was, the others are made."""
    keys = [str(uuid.uuid4()) for _ in range(3)]
    for n, key in enumerate(keys):
        add_person(slapd_server, ldap_base, f"poison{n}", mail=f"poison{n}@lc.gov.vn",
                   mailbox=_box(key))  # fmt: skip
    blocked = mail_server.mail_root / _box(keys[1])
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a mailbox")
    store = connector_for(mail_server, mail_server.directory / "archive").maildirs
    assert isinstance(store, RemoteMaildirs)
    store._refuse_blocked = lambda items: None  # type: ignore[method-assign]  # let it through
    items = [Made(_box(k), f"poison{n}", {}) for n, k in enumerate(keys)]
    store.make(items)
    assert items[0].error is None and items[2].error is None
    assert isinstance(items[1].error, InvalidData) and "poison1" in str(items[1].error)
    assert store.existing([_box(k) for k in keys]) == {_box(keys[0]), _box(keys[2])}


def test_the_doveadm_api_certificate_is_checked(mail_server, tmp_path):
    other_ca = make_pki(tmp_path / "pki").ca_file

    def connector(url: str, ca_file: str) -> MailConnector:
        return MailConnector(
            MailConfig(
                doveadm_config="",
                mail_root=str(mail_server.mail_root),
                archive_dir=str(tmp_path),
                doveadm_url=url,
                doveadm_password=mail_server.doveadm_password,
                doveadm_ca_file=ca_file,
            )
        )

    assert connector(mail_server.doveadm_url, str(mail_server.tls.ca_file)).check().ok
    untrusted = connector(mail_server.doveadm_url, str(other_ca)).check()
    assert not untrusted.ok and "doveadm_ca_file" in untrusted.detail
    with pytest.raises(TargetMisconfigured):
        connector("ftp://127.0.0.1/doveadm/v1", "")
