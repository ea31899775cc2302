"""`idhub restore`: an archive of `idhub backup` into empty servers.

Everything is checked before anything is written: the archive (passphrase, manifest MAC,
part hashes), the database (no tables at all: a fresh database, not even migrated), the
directory (nothing under the base DN), the keys (a data key this node already has must
be the archive's). Then: the keys written where the keyring reads them, the database
restored (the SQLite file through the backup API, or pg_restore), the directory's
entries added parents first, and the checks (the audit chain, the keys against the data,
the manifest's counts and chain head).
"""

from __future__ import annotations

import hmac
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap
import ldap.dn
import ldap.modlist
import ldif
from sqlalchemy import func, inspect, select

from idhub.changes.chain import AuditLog
from idhub.db.sqlite_gate import sqlite_file
from idhub.models import AuditEvent, Person
from idhub.oidc.keycheck import FINGERPRINTED, check_keys
from idhub.ops.backup import DATABASE_PG, DATABASE_SQLITE, DIRECTORY, ldap_connection, libpq
from idhub.ops.backup_archive import OpenedArchive, open_archive
from idhub.ops.migrate import current_revision, head_revision
from idhub.services import Hub


class RestoreRefused(Exception):
    """The target is not empty, or does not fit the archive: nothing was written."""


class RestoreFailed(Exception):
    """A step failed after the checks: the target holds part of the archive; empty it
    (a new database, the base's entries removed) before trying again."""


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    keys_written: list[str] = field(default_factory=list)
    keys_kept: list[str] = field(default_factory=list)
    entries_added: int = 0
    checks: list[tuple[bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.checks)


def restore(hub: Hub, src: Path, passphrase: str) -> RestoreReport:
    target = sqlite_file(hub.db.engine) if hub.db.is_sqlite else None
    if target is not None:  # a new node: its data folder may not be there yet
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="idhub-restore-") as tmp:
        archive = open_archive(src, passphrase, Path(tmp))
        report = RestoreReport(archive.manifest)
        _refuse_unfit(hub, archive)
        _write_keys(hub, archive, report)
        _restore_database(hub, archive)
        report.entries_added = _restore_directory(hub, archive.part(DIRECTORY))
    _check(hub, report)
    return report


# -- before anything is written ----------------------------------------------------------
def _refuse_unfit(hub: Hub, archive: OpenedArchive) -> None:
    manifest = archive.manifest
    if manifest.get("database") != hub.db.dialect:
        raise RestoreRefused(
            f"the archive holds a {manifest.get('database')} database; this hub's is "
            f"{hub.db.dialect}: restore into the same kind"
        )
    with hub.db.engine.connect() as conn:
        tables = inspect(conn).get_table_names()
    if tables:
        raise RestoreRefused(
            f"the database {hub.db.engine.url.render_as_string()} is not empty ({len(tables)} "
            "tables): restore only into a new, empty database (not even migrated)"
        )
    base = hub.connectors.base_dn
    if manifest.get("base_dn", "").lower() != base.lower():
        raise RestoreRefused(
            f"the archive's directory is under {manifest.get('base_dn')}, this hub's base DN "
            f"is {base}: set [ldap] base_dn to the archive's"
        )
    children = _children(hub, base)
    if children:
        raise RestoreRefused(
            f"the directory is not empty: {base} holds entries (e.g. {children[0]}); "
            "restore only into an empty base"
        )
    for name in FINGERPRINTED:  # the keys nodes must share
        have, want = hub.keyring.read(name), archive.keys.get(name)
        if (
            have is not None
            and want is not None
            and not hmac.compare_digest(have.encode(), want.encode())
        ):
            raise RestoreRefused(
                f"this node already has another {name} ({hub.keyring.source(name)}): "
                "remove it (or give the archive's) and restore again"
            )


def _children(hub: Hub, base: str) -> list[str]:
    connection = ldap_connection(hub)

    def search(conn: Any) -> list[str]:
        try:
            rows = conn.search_ext_s(base, ldap.SCOPE_ONELEVEL, "(objectClass=*)", ["1.1"])
        except ldap.NO_SUCH_OBJECT:
            return []
        return [dn for dn, _ in rows if dn]

    try:
        return connection.call("restore: is the base empty", search)
    finally:
        connection.close()


# -- writing -------------------------------------------------------------------------------
def _write_keys(hub: Hub, archive: OpenedArchive, report: RestoreReport) -> None:
    """Data keys (and the anchor key) as in the archive; the others (the session key, the
    dev servers' passwords) are this node's when it has them."""
    for name, value in sorted(archive.keys.items()):
        have = hub.keyring.read(name)
        if have is None:
            hub.keyring.restore(name, value)
            report.keys_written.append(name)
        elif name not in FINGERPRINTED and not hmac.compare_digest(have.encode(), value.encode()):
            report.keys_kept.append(name)


def _restore_database(hub: Hub, archive: OpenedArchive) -> None:
    if hub.db.is_sqlite:
        target = sqlite_file(hub.db.engine)
        if target is None:
            raise RestoreRefused("cannot restore into an in-memory SQLite database")
        hub.db.engine.dispose()
        with (
            sqlite3.connect(archive.part(DATABASE_SQLITE)) as saved,
            sqlite3.connect(target) as live,
        ):
            saved.backup(live)
        return
    url, env = libpq(hub.db.url)
    done = subprocess.run(
        ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
         "--dbname", url, str(archive.part(DATABASE_PG))],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RestoreFailed(f"pg_restore failed: {done.stderr.strip()[-2000:]}")


def _restore_directory(hub: Hub, path: Path) -> int:
    """Add every entry, parents before children and groups after their members (the
    memberOf overlay sets a member's memberOf only when the member is there); the base
    itself only when missing."""
    with path.open("rb") as fh:
        parser = ldif.LDIFRecordList(fh)
        parser.parse()
    records = sorted(parser.all_records, key=lambda r: (_is_group(r[1]), len(ldap.dn.str2dn(r[0]))))
    connection = ldap_connection(hub)
    base = hub.connectors.base_dn.lower()

    def add_all(conn: Any) -> int:
        added = 0
        for dn, attrs in records:
            try:
                conn.add_s(dn, ldap.modlist.addModlist(attrs))
            except ldap.ALREADY_EXISTS:
                if dn.lower() != base:
                    raise
                continue
            added += 1
        return added

    try:
        return connection.call("restore: add the directory's entries", add_all, reconnect=False)
    finally:
        connection.close()


_GROUP_CLASSES = {b"groupofnames", b"groupofuniquenames", b"groupofurls"}


def _is_group(attrs: dict[str, list[bytes]]) -> bool:
    classes = next((v for k, v in attrs.items() if k.lower() == "objectclass"), [])
    return any(c.lower() in _GROUP_CLASSES for c in classes)


# -- after ---------------------------------------------------------------------------------
def _check(hub: Hub, report: RestoreReport) -> None:
    manifest, checks = report.manifest, report.checks
    counts = manifest.get("counts", {})
    audit = AuditLog(hub.keyring.get("audit_chain_key"))
    with hub.db.transaction() as session:
        result = audit.verify_session(session)
        checks.append(
            (result.ok, f"audit chain: {result.checked} events verify")
            if result.ok
            else (False, f"audit chain broken at event {result.broken_at}: {result.problem}")
        )
        head = manifest.get("audit_head")
        if head:
            stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == head["id"]))
            same = stored is not None and hmac.compare_digest(
                stored.encode(), str(head["hash"]).encode()
            )
            checks.append((same, f"the manifest's chain head (event {head['id']}) is there"))
        people = session.scalar(select(func.count()).select_from(Person)) or 0
        events = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        checks.append((people >= counts.get("people", 0), f"{people} people"))
        checks.append((events >= counts.get("audit_events", 0), f"{events} audit events"))
        for finding in check_keys(session, hub.keyring):
            checks.append((finding.ok, f"key {finding.name}: {finding.detail}"))
    revision, head = current_revision(hub.db.engine), head_revision(hub.db.engine)
    checks.append(
        (True, f"database at revision {revision} (this IDHub's)")
        if revision == head
        else (False, f"database at revision {revision}, this IDHub's is {head}: run "
              "`idhub db upgrade`")
    )  # fmt: skip
    wanted = counts.get("directory_entries", 0)
    checks.append(
        (report.entries_added + 1 >= wanted, f"{report.entries_added} directory entries added")
    )
