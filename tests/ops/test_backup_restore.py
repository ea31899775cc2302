"""The drill: back up a running hub (people, posts, a leaver, done and pending jobs, audit
events), restore it into a fresh folder, a fresh empty slapd and a fresh database, and
find the same hub: the audit chain verifies, the same entries, no drift once the
pending jobs converged. And the refusals: a wrong passphrase, a tampered archive, a
target that is not empty."""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import subprocess
import tarfile
import threading
import time
import uuid
from pathlib import Path

import ldap
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from idhub.app import create_app, load_checked
from idhub.changes.chain import Actor
from idhub.cli import main
from idhub.db import Database
from idhub.engine.reconcile import reconcile
from idhub.models import JobState, ProvisioningJob
from idhub.ops.backup import libpq, make_backup
from idhub.ops.backup_archive import ArchiveError, open_archive
from idhub.ops.restore import RestoreRefused, restore
from idhub.runtime import Runtime
from tests.conftest import PG_ADMIN_URL
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.ldap import ADMIN_DN, ADMIN_PASSWORD, make_slapd
from tests.fixtures.provisioning import drain

PASSPHRASE = "cụm mật khẩu đủ dài 2026"
YESTERDAY = (dt.date.today() - dt.timedelta(days=1)).isoformat()


def _cli_env(monkeypatch, settings) -> None:
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    for key in ("url", "base_dn", "bind_dn", "password"):
        monkeypatch.setenv(f"IDHUB_LDAP_{key.upper()}", settings["ldap"][key])
    monkeypatch.setenv("IDHUB_BACKUP_PASSPHRASE", PASSPHRASE)


@pytest.fixture
def populated(app, api) -> dict:
    """A hub that has run a while: converged people, a leaver, and changes still queued."""
    unit = make_unit(api)
    position = make_position(api)
    people = [make_person(api, given_name=name) for name in ("An", "Bình", "Chi")]
    posts = [make_assignment(api, p, unit, position) for p in people]
    drain(app)
    api.post(f"/api/v1/assignments/{posts[2]['id']}/end", {"end_date": YESTERDAY})
    drain(app)  # the leaver is disabled in the directory
    _set_password_hash(app, people[0]["id"])
    late = make_person(api, given_name="Dũng")
    make_assignment(api, late, unit, position)  # queued, not converged yet
    return {"people": people, "late": late}


def _set_password_hash(app, person_id: str) -> None:
    """A password set at the directory (as the sign-on does): its hash must come along."""
    conn = ldap.initialize(app.extensions["idhub"].connectors.ldap_config.url)
    conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
    try:
        base = app.extensions["idhub"].connectors.base_dn
        ((dn, _),) = conn.search_s(
            base, ldap.SCOPE_SUBTREE, f"(idhubPersonId={person_id})", ["1.1"]
        )
        conn.modify_s(dn, [(ldap.MOD_REPLACE, "userPassword", [b"{SSHA}c2FsdHNhbHRzYWx0c2FsdA=="])])
    finally:
        conn.unbind_s()


def _pending(hub) -> int:
    with hub.db.transaction() as session:
        query = select(func.count()).select_from(ProvisioningJob)
        return session.scalar(query.where(ProvisioningJob.state == JobState.PENDING)) or 0


def _entries(url: str, base: str) -> dict[str, dict[str, list[bytes]]]:
    conn = ldap.initialize(url)
    conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
    try:
        rows = conn.search_s(base, ldap.SCOPE_SUBTREE, "(objectClass=*)", ["*", "memberOf"])
    finally:
        conn.unbind_s()
    return {dn.lower(): {k.lower(): sorted(v) for k, v in attrs.items()} for dn, attrs in rows}


@pytest.fixture
def fresh_target(settings, tmp_path: Path, database_url: str):
    """Another place: its own folder, an empty slapd, an empty (not migrated) database."""
    with make_slapd(tmp_path / "slapd-b") as server:
        target = copy.deepcopy(settings)
        target["var_dir"] = str(tmp_path / "var-b")
        target["secrets"]["dir"] = str(tmp_path / "var-b" / "secrets")
        target["ldap"]["url"] = server.url
        if database_url.startswith("sqlite"):
            target["database"]["url"] = f"sqlite:///{tmp_path / 'restored.db'}"
            yield target
            return
        name = f"idhub_restore_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
        url = make_url(PG_ADMIN_URL).set(database=name)
        target["database"]["url"] = url.render_as_string(hide_password=False)
        try:
            yield target
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def _hub(settings) -> Runtime:
    return Runtime(load_checked(settings))


def test_the_drill_backup_restore_elsewhere_same_hub(
    app, populated, settings, fresh_target, tmp_path, monkeypatch
):
    source = app.extensions["idhub"]
    pending = _pending(source)
    assert pending >= 1
    _cli_env(monkeypatch, settings)
    anchors = tmp_path / "anchors"
    assert CliRunner().invoke(main, ["audit", "anchor", "--dir", str(anchors)]).exit_code == 0
    out = CliRunner().invoke(main, ["backup", str(tmp_path)])
    assert out.exit_code == 0, out.output
    (archive,) = tmp_path.glob("idhub-backup-*.tar")
    assert archive.stat().st_mode & 0o777 == 0o600
    assert PASSPHRASE not in out.output
    _no_secret_in_clear(archive, Path(settings["var_dir"]) / "secrets", populated)
    opened = open_archive(archive, PASSPHRASE, tmp_path / "opened")
    saved = opened.part("directory.ldif").read_text()
    assert "userPassword: {SSHA}" in saved  # the hashes come along, inside the encryption
    assert "\nmember:" not in saved  # dynamic groups saved as their URL, not expanded

    _cli_env(monkeypatch, fresh_target)
    out = CliRunner().invoke(main, ["restore", str(archive)])
    assert out.exit_code == 0, out.output
    assert "FAIL" not in out.output and "audit chain:" in out.output

    restored = create_app(fresh_target)  # starts: the keys open the data
    try:
        hub = restored.extensions["idhub"]
        out = CliRunner().invoke(main, ["audit", "verify", "--anchors", str(anchors)])
        assert out.exit_code == 0 and "anchors agree: 1 checked" in out.output, out.output
        out = CliRunner().invoke(main, ["keys", "check"])
        assert out.exit_code == 0, out.output
        base = settings["ldap"]["base_dn"]
        assert _entries(fresh_target["ldap"]["url"], base) == _entries(
            settings["ldap"]["url"], base
        )
        assert _pending(hub) == pending  # the queued work came along
        drain(restored)
        assert _pending(hub) == 0
        report = reconcile(hub.db, hub.connectors.directory(), hub.rules, base_dn=base)
        assert report.people == 4 and report.in_sync == 4, report.as_dict()
        assert not report.drift and not report.orphans
    finally:
        restored.extensions["idhub"].db.dispose()


def _no_secret_in_clear(archive: Path, secrets_dir: Path, populated: dict) -> None:
    """Neither a key nor personal data nor a password hash readable without the passphrase."""
    with tarfile.open(archive) as tar:
        blob = b"".join(tar.extractfile(m).read() for m in tar.getmembers() if m.isfile())
    for key in secrets_dir.iterdir():
        assert key.read_bytes().strip() not in blob, key.name
    for person in populated["people"]:
        assert person["national_id"].encode() not in blob
    assert b"{SSHA}" not in blob and b"SQLite format" not in blob


def test_a_wrong_passphrase_is_refused(app, populated, fresh_target, tmp_path):
    archive, _ = make_backup(_hub_of(app), tmp_path, PASSPHRASE)
    target = _hub(fresh_target)
    with pytest.raises(ArchiveError, match="wrong passphrase"):
        restore(target, archive, "not the passphrase at all")
    _nothing_written(target, fresh_target)


def test_a_tampered_archive_is_refused(app, populated, fresh_target, tmp_path):
    archive, _ = make_backup(_hub_of(app), tmp_path / "a.tar", PASSPHRASE)
    parts = _read(archive)
    parts["directory.ldif"] += b"\ndn: cn=intruder\nobjectClass: person\ncn: intruder\nsn: x\n"
    _write(archive, parts)
    target = _hub(fresh_target)
    with pytest.raises(ArchiveError, match=r"part directory\.ldif was altered"):
        restore(target, archive, PASSPHRASE)
    manifest = json.loads(parts["manifest.json"])
    manifest["parts"]["directory.ldif"]["sha256"] = "0" * 64  # and the manifest to match
    parts["manifest.json"] = json.dumps(manifest).encode()
    _write(archive, parts)
    with pytest.raises(ArchiveError, match="manifest was altered"):
        restore(target, archive, PASSPHRASE)
    _nothing_written(target, fresh_target)


def test_restore_into_a_non_empty_target_is_refused(
    app, populated, settings, fresh_target, tmp_path, monkeypatch
):
    archive, _ = make_backup(_hub_of(app), tmp_path, PASSPHRASE)
    _cli_env(monkeypatch, settings)  # the running hub itself: data everywhere
    out = CliRunner().invoke(main, ["restore", str(archive)])
    assert out.exit_code == 1
    assert (
        "restore refused" in out.output and "database" in out.output and "not empty" in out.output
    )
    target = _hub(fresh_target)  # an empty database, but a directory with entries
    conn = ldap.initialize(fresh_target["ldap"]["url"])
    conn.simple_bind_s(ADMIN_DN, ADMIN_PASSWORD)
    base = fresh_target["ldap"]["base_dn"]
    conn.add_s(base, [("objectClass", [b"organizationalUnit"]), ("ou", [b"x"])])
    conn.add_s(f"ou=old,{base}", [("objectClass", [b"organizationalUnit"]), ("ou", [b"old"])])
    conn.unbind_s()
    with pytest.raises(RestoreRefused, match="directory is not empty"):
        restore(target, archive, PASSPHRASE)
    _nothing_written(target, fresh_target)


def _hub_of(app) -> Runtime:
    return app.extensions["idhub"]


def _nothing_written(target: Runtime, settings) -> None:
    with target.db.engine.connect() as conn:
        assert inspect(conn).get_table_names() == []
    assert not Path(settings["secrets"]["dir"]).exists() or not any(
        (Path(settings["secrets"]["dir"]) / name).exists()
        for name in ("audit_chain_key", "encryption_key", "token_hash_key")
    )


def _read(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}


def _write(archive: Path, parts: dict[str, bytes]) -> None:
    with tarfile.open(archive, "w") as tar:
        for name, data in parts.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_backup_taken_while_the_hub_writes_is_consistent(app, populated, tmp_path):
    """The database part is one consistent copy even with an appender at work: its audit
    chain verifies to its end."""
    hub = app.extensions["idhub"]
    stop, written = threading.Event(), []

    def appender() -> None:
        while not stop.is_set():
            with hub.db.transaction() as session:
                hub.audit.record(
                    session, actor=Actor("system", "drill"), action="test.write", object_type="test"
                )
            written.append(1)

    thread = threading.Thread(target=appender)
    thread.start()
    try:
        while len(written) < 5:
            time.sleep(0.01)
        archive, manifest = make_backup(hub, tmp_path, PASSPHRASE)
    finally:
        stop.set()
        thread.join()
    opened = open_archive(archive, PASSPHRASE, tmp_path / "opened")
    copy_url = _copy_url(opened, hub, tmp_path)
    copied = Database(copy_url)
    try:
        with copied.transaction() as session:
            result = hub.audit.verify_session(session)
        assert result.ok, result
        assert result.checked >= manifest["audit_head"]["id"]
    finally:
        copied.dispose()
        if not copy_url.startswith("sqlite"):
            _drop(copy_url)


def _copy_url(opened, hub, tmp_path: Path) -> str:
    """The archive's database, made readable: the SQLite file itself, or a PostgreSQL
    database it is restored into."""
    if hub.db.is_sqlite:
        return f"sqlite:///{opened.part('database.sqlite')}"
    name = f"idhub_copy_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0"))
    admin.dispose()
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    libpq_url, env = libpq(url)
    subprocess.run(
        ["pg_restore", "--no-owner", "--dbname", libpq_url, str(opened.part("database.pgdump"))],
        env=env,
        check=True,
    )
    return url


def _drop(url: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def test_a_node_with_another_data_key_is_refused(app, populated, fresh_target, tmp_path):
    archive, _ = make_backup(_hub_of(app), tmp_path, PASSPHRASE)
    secrets_dir = Path(fresh_target["secrets"]["dir"])
    secrets_dir.mkdir(parents=True)
    (secrets_dir / "audit_chain_key").write_text("khóa riêng của máy này\n")
    target = _hub(fresh_target)
    with pytest.raises(RestoreRefused, match="already has another audit_chain_key"):
        restore(target, archive, PASSPHRASE)
    with target.db.engine.connect() as conn:
        assert inspect(conn).get_table_names() == []
    assert not (secrets_dir / "encryption_key").exists()
