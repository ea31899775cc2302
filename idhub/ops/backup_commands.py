"""`idhub backup` and `idhub restore` (idhub/ops/backup.py, idhub/ops/restore.py)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from idhub.runtime import Runtime, pass_runtime

PASSPHRASE_ENV = "IDHUB_BACKUP_PASSPHRASE"

_passphrase_file = click.option(
    "--passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help=f"A file holding the passphrase (else ${PASSPHRASE_ENV}, else a prompt).",
)


def _passphrase(path: Path | None, *, confirm: bool) -> str:
    if path is not None:
        return path.read_text().strip()
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    value: str = click.prompt(
        "Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True
    )
    return value


@click.command("backup")
@click.argument("dest", type=click.Path(path_type=Path))
@_passphrase_file
@pass_runtime
def backup(rt: Runtime, dest: Path, passphrase_file: Path | None) -> None:
    """Write one archive of the database, the directory (LDIF) and the keys (sealed with a
    passphrase) to DEST (a file, or a folder for a dated one). The hub may keep running.

    \b
    Example:
      IDHUB_BACKUP_PASSPHRASE=… idhub backup /srv/backups/
    """
    from connectors.base import ConnectorError
    from idhub.ops.backup import make_backup
    from idhub.ops.backup_archive import ArchiveError

    try:
        path, manifest = make_backup(rt, dest, _passphrase(passphrase_file, confirm=True))
    except (ArchiveError, ConnectorError) as exc:
        raise click.ClickException(f"backup failed: {exc}") from exc
    counts = manifest["counts"]
    head = manifest["audit_head"] or {"id": 0}
    click.echo(
        f"backup written: {path} ({counts['people']} people, {counts['audit_events']} audit "
        f"events up to event {head['id']}, {counts['directory_entries']} directory entries, "
        f"{len(manifest['keys'])} keys sealed)"
    )


@click.command("restore")
@click.argument("src", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@_passphrase_file
@pass_runtime
def restore(rt: Runtime, src: Path, passphrase_file: Path | None) -> None:
    """Restore the archive SRC into an empty database and an empty directory base, then
    check the result. Refuses, writing nothing, when either is not empty. Exits 1 when a
    check fails.

    \b
    Example:
      IDHUB_BACKUP_PASSPHRASE=… idhub restore /srv/backups/idhub-backup-20261205T170000Z.tar
    """
    from connectors.base import ConnectorError
    from idhub.ops.backup_archive import ArchiveError
    from idhub.ops.restore import RestoreFailed, RestoreRefused
    from idhub.ops.restore import restore as run_restore

    try:
        report = run_restore(rt, src, _passphrase(passphrase_file, confirm=False))
    except (ArchiveError, RestoreRefused) as exc:
        raise click.ClickException(f"restore refused: {exc}") from exc
    except (RestoreFailed, ConnectorError) as exc:
        raise click.ClickException(
            f"restore failed: {exc}. The target holds part of the archive: empty it "
            "(a new database, the base's entries removed) before trying again"
        ) from exc
    if report.keys_written:
        click.echo(f"keys written to {rt.keyring.directory}: {', '.join(report.keys_written)}")
    if report.keys_kept:
        click.echo(f"this node's own kept: {', '.join(report.keys_kept)}")
    click.echo(f"directory: {report.entries_added} entries added")
    for ok, what in report.checks:
        click.echo(f"{'ok  ' if ok else 'FAIL'}\t{what}")
    if not report.ok:
        raise SystemExit(1)
    click.echo("restored; start the hub and its workers: pending jobs converge")
