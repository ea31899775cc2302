"""`idhub backup`: the database, the directory as LDIF and the keys, in one archive.

The database: SQLite through its online backup API (a consistent copy while the hub
writes), PostgreSQL with `pg_dump --format=custom`. The directory: every entry under the
hub's base DN, read with the hub's own account (what works against a remote slapd), with
the ManageDsaIT control so dynamic groups are saved as their URL, not their expansion;
user attributes only. A `slapcat` on the directory host adds what an account cannot
read or write back: operational attributes (entryUUID, timestamps), entries outside the
base (the service accounts, password policies) and cn=config; take one there too.
The keys: every keyring secret, sealed with the passphrase (idhub/ops/backup_archive.py).
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap
import ldif
from ldap.controls import SimplePagedResultsControl
from ldap.controls.simple import ManageDSAITControl
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from connectors.ldap.connection import Connection
from idhub.audit.anchors import chain_head
from idhub.db import Database
from idhub.db.sqlite_gate import sqlite_file
from idhub.keyring import KEY_NAMES
from idhub.models import AuditEvent, JobState, Person, ProvisioningJob
from idhub.ops.backup_archive import KEYS, ArchiveError, Sealer, write_archive
from idhub.services import Hub

DATABASE_SQLITE, DATABASE_PG, DIRECTORY = "database.sqlite", "database.pgdump", "directory.ldif"
_PAGE = 500


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy PostgreSQL URL as a libpq URL without its password, and the
    environment that gives the password (never on a command line others can read)."""
    parsed = make_url(url)
    env = {**os.environ}
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def dump_database(db: Database, folder: Path) -> Path:
    if db.is_sqlite:
        source = sqlite_file(db.engine)
        if source is None:
            raise RuntimeError("an in-memory SQLite database cannot be backed up")
        path = folder / DATABASE_SQLITE
        with sqlite3.connect(source) as live, sqlite3.connect(path) as copy:
            live.backup(copy)  # page by page, consistent with the writers
        return path
    path = folder / DATABASE_PG
    url, env = libpq(db.url)
    done = subprocess.run(
        ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", "--file", str(path), url],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise ArchiveError(f"pg_dump failed: {done.stderr.strip()[-2000:]}")
    return path


def ldap_connection(hub: Hub) -> Connection:
    """A connection bound as the hub's account, with the hub's TLS settings."""
    return Connection(hub.connectors.ldap_config, "backup")


def directory_entries(hub: Hub) -> Iterator[tuple[str, dict[str, list[bytes]]]]:
    """Every entry under the base DN (the base itself first), paged."""
    base = hub.connectors.base_dn
    connection = ldap_connection(hub)
    paging = SimplePagedResultsControl(True, size=_PAGE, cookie=b"")
    try:
        while True:
            controls = [paging, ManageDSAITControl(criticality=False)]

            def page(conn: Any, controls: list[Any] = controls) -> tuple[list[Any], bytes]:
                msgid = conn.search_ext(
                    base, ldap.SCOPE_SUBTREE, "(objectClass=*)", ["*"], serverctrls=controls
                )
                _type, rows, _msgid, ctrls = conn.result3(msgid)
                cookie = b""
                for ctrl in ctrls:
                    if ctrl.controlType == SimplePagedResultsControl.controlType:
                        cookie = ctrl.cookie
                return rows, cookie

            rows, cookie = connection.call("backup: read the directory", page, reconnect=False)
            yield from ((dn, attrs) for dn, attrs in rows if dn)
            if not cookie:
                return
            paging.cookie = cookie
    finally:
        connection.close()


def dump_directory(hub: Hub, folder: Path) -> tuple[Path, int]:
    path = folder / DIRECTORY
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        writer = ldif.LDIFWriter(fh, cols=76)
        for dn, attrs in directory_entries(hub):
            writer.unparse(dn, attrs)
            count += 1
    return path, count


def _facts(hub: Hub) -> dict[str, Any]:
    """Versions, counts and the audit chain's head, for the manifest."""
    with hub.db.transaction() as session:
        head = chain_head(session)
        jobs = dict(
            session.execute(
                select(ProvisioningJob.state, func.count()).group_by(ProvisioningJob.state)
            ).all()
        )
        revision = session.execute(text("SELECT version_num FROM alembic_version")).scalar()
        server = session.execute(
            text("SELECT sqlite_version()" if hub.db.is_sqlite else "SHOW server_version")
        ).scalar()
        counts = {
            "people": session.scalar(select(func.count()).select_from(Person)),
            "audit_events": session.scalar(select(func.count()).select_from(AuditEvent)),
            "jobs": {(k.value if isinstance(k, JobState) else str(k)): v for k, v in jobs.items()},
        }
    return {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "versions": {
            "idhub": importlib.metadata.version("idhub"),
            "python": platform.python_version(),
            "database": f"{hub.db.dialect} {server}",
        },
        "alembic_head": revision,
        "database": hub.db.dialect,
        "base_dn": hub.connectors.base_dn,
        "counts": counts,
        "audit_head": {"id": head[0], "hash": head[1]} if head else None,
    }


def make_backup(hub: Hub, dest: Path, passphrase: str) -> tuple[Path, dict[str, Any]]:
    """Write the archive to `dest` (a file, or a folder to put a dated one in); returns its
    path and manifest. The keys are read as the keyring reads them, never made."""
    sealer = Sealer.new(passphrase)
    if dest.is_dir():
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        dest = dest / f"idhub-backup-{stamp}.tar"
    keys = {name: value for name in KEY_NAMES if (value := hub.keyring.read(name)) is not None}
    manifest = _facts(hub)  # before the dumps: the chain head is at most what they hold
    with tempfile.TemporaryDirectory(prefix="idhub-backup-") as tmp:
        folder = Path(tmp)
        database = dump_database(hub.db, folder)
        directory, entries = dump_directory(hub, folder)
        manifest["counts"]["directory_entries"] = entries
        manifest["keys"] = sorted(keys)
        write_archive(
            dest,
            {database.name: database, directory.name: directory},
            manifest,
            sealer,
            sealer.seal_keys(keys),
        )
    return dest, {**manifest, "parts": [KEYS, database.name, directory.name]}
