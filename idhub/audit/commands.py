"""`idhub audit`: checking the hash chain of the audit log, and anchoring its head."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.orm import Session

from idhub.audit.anchors import (
    AnchorWriter,
    load_anchors,
    parse_public_key,
    private_key,
    public_key_text,
    verify_anchors,
)
from idhub.audit.settings import AuditSettings
from idhub.runtime import Runtime, pass_runtime


@click.group()
def audit() -> None:
    """The audit trail."""


@audit.command("verify")
@click.option(
    "--anchors",
    "anchor_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also check the signed anchors in this folder (events cut off the end).",
)
@click.option(
    "--public-key",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="The anchors' public key (`idhub audit anchor-key`); default: this node's key.",
)
@pass_runtime
def audit_verify(rt: Runtime, anchor_dir: Path | None, public_key: Path | None) -> None:
    """Check the audit hash chain; exit 1 at the first broken link (or a failed anchor).

    \b
    Example:
      idhub audit verify
      idhub audit verify --anchors /mnt/anchors --public-key anchor.pub
    """
    with rt.db.transaction() as session:
        result = rt.audit.verify_session(session)
        anchored: tuple[int, list[str]] | None = None
        if anchor_dir is not None:
            anchored = _check_anchors(rt, session, anchor_dir, public_key)
    if not result.ok:
        click.echo(
            f"AUDIT CHAIN BROKEN at event {result.broken_at}: {result.problem} "
            f"({result.checked} events verified before it)",
            err=True,
        )
        sys.exit(1)
    click.echo(f"audit chain intact: {result.checked} events")
    if anchored is None:
        return
    checked, problems = anchored
    if problems:
        for problem in problems:
            click.echo(f"AUDIT ANCHOR FAILED: {problem}", err=True)
        sys.exit(1)
    click.echo(f"anchors agree: {checked} checked in {anchor_dir}")


def _check_anchors(
    rt: Runtime, session: Session, anchor_dir: Path, public_key: Path | None
) -> tuple[int, list[str]]:
    anchors = load_anchors(anchor_dir) if anchor_dir.is_dir() else []
    if not anchors:
        return 0, [f"no anchors in {anchor_dir}: nothing to check the chain's end against"]
    if public_key is not None:
        try:
            key = parse_public_key(public_key.read_text())
        except ValueError as exc:
            raise click.ClickException(f"{public_key}: {exc}") from exc
    else:
        if rt.keyring.read("audit_anchor_key") is None:
            raise click.ClickException(
                "this node has no audit_anchor_key: give the anchors' key with --public-key"
            )
        key = private_key(rt.keyring).public_key()
    return verify_anchors(session, anchors, key)


def anchor_writer(rt: Runtime, directory: Path | None = None) -> AnchorWriter:
    section = rt.settings.section(AuditSettings)
    where = directory or (Path(section.anchor_dir) if section.anchor_dir else None)
    if where is None:
        raise click.ClickException("no anchor folder: set [audit] anchor_dir or give --dir")
    return AnchorWriter(where, rt.keyring, to_syslog=section.anchor_syslog)


@audit.command("anchor")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to write it (default: [audit] anchor_dir).",
)
@pass_runtime
def audit_anchor(rt: Runtime, directory: Path | None) -> None:
    """Write a signed anchor of the audit chain's head now.

    \b
    Example:
      idhub audit anchor
    """
    writer = anchor_writer(rt, directory)
    with rt.db.transaction() as session:
        anchor = writer.write(session, force=True)
    if anchor is None:
        click.echo("no audit events yet: nothing to anchor")
        return
    where = writer.directory
    click.echo(f"anchored event {anchor['event_id']} ({anchor['hash'][:16]}…) in {where}")


@audit.command("anchor-key")
@pass_runtime
def audit_anchor_key(rt: Runtime) -> None:
    """Print the anchors' public key (keep a copy with the anchors, for `verify --public-key`).

    \b
    Example:
      idhub audit anchor-key > anchor.pub
    """
    click.echo(public_key_text(private_key(rt.keyring).public_key()))
