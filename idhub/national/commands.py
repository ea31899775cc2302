"""`idhub national …`: signed exports, their verification, partners and signed batches."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import click

from idhub.changes.context import HrContext
from idhub.errors import DomainError
from idhub.national import documents, exports, imports, keys
from idhub.national.settings import NationalSettings
from idhub.runtime import Runtime, fail, pass_runtime
from idhub.web.settings import ServerSettings


@click.group("national")
def national() -> None:
    """Signed exchange with the national database of cadres and civil servants."""


@national.command("export")
@click.option("--since", help="Only people changed since (ISO date or time, UTC); default full.")
@click.option("--format", "fmt", type=click.Choice(exports.FORMATS), default="jws")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@pass_runtime
def export(rt: Runtime, since: str | None, fmt: str, output: Path | None) -> None:
    """Make a signed export (audited); writes the document to OUTPUT or stdout.

    \b
    Examples:
      idhub national export -o full.jws
      idhub national export --since 2025-07-01 --format xml -o changes.xml
    """
    when = None
    if since:
        try:
            when = dt.datetime.fromisoformat(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from exc
    try:
        with rt.db.transaction() as session:
            row = exports.create_export(
                session,
                rt.keyring,
                rt.audit,
                rt.actor,
                fmt=fmt,
                since=when,
                issuer=rt.settings.section(ServerSettings).public_url,
                push=rt.settings.section(NationalSettings).pushing,
            )
            document, export_id, count = row.document, row.id, row.records
    except DomainError as exc:
        fail(exc)
    if output:
        output.write_text(document, encoding="utf-8")
    else:
        sys.stdout.write(document + "\n")
    click.echo(f"export {export_id}: {count} record(s), {fmt}", err=True)


@national.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Check against this JWKS file instead of the hub's keys (JWS only).",
)
@pass_runtime
def verify(rt: Runtime, file: Path, jwks_file: Path | None) -> None:
    """Check the signature of an export FILE (JWS or XAdES); prints what it holds.

    \b
    Example:
      idhub national verify full.jws
    """
    data = file.read_bytes()
    try:
        if jwks_file:
            payload = documents.verify_jws(data.decode(), json.loads(jwks_file.read_text())["keys"])
        else:
            with rt.db.transaction() as session:
                payload = exports.verify_document(session, data)
    except DomainError as exc:
        fail(exc)
    click.echo(
        f"valid: export {payload.get('jti')} issued {payload.get('issued_at')}, "
        f"{len(payload.get('people') or [])} person record(s), "
        f"{len(payload.get('reorganisations') or [])} reorganisation(s)"
    )


@national.command("jwks")
@pass_runtime
def jwks(rt: Runtime) -> None:
    """Print the JWKS that verifies every export (also public at /national/jwks.json).

    \b
    Example:
      idhub national jwks > national-jwks.json
    """
    with rt.db.transaction() as session:
        keys.signing_key(session, rt.keyring, rt.audit, rt.actor)
        click.echo(json.dumps(keys.jwks(session), indent=2))


@national.command("rotate-key")
@pass_runtime
def rotate_key(rt: Runtime) -> None:
    """Sign new exports with a new key; the old one stays published (old exports verify).

    \b
    Example:
      idhub national rotate-key
    """
    with rt.db.transaction() as session:
        row = keys.rotate(session, rt.keyring, rt.audit, rt.actor)
        click.echo(row.kid)


@national.command("partner")
@click.argument("name")
@click.option("--kind", type=click.Choice(imports.KINDS), required=True)
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The partner's public key as a JWK (JSON).",
)
@pass_runtime
def partner(rt: Runtime, name: str, kind: str, key_file: Path) -> None:
    """Register a partner whose signed batches are accepted.

    \b
    Example:
      idhub national partner "HRM tỉnh" --kind hr --key hrm-public.jwk.json
    """
    try:
        with rt.db.transaction() as session:
            ctx = HrContext(session, rt.audit, rt.actor, naming_pattern=rt.rules.naming.pattern)
            row = imports.register_partner(ctx, name, kind, json.loads(key_file.read_text()))
            click.echo(f"{row.id}\t{row.public_jwk['kid']}")
    except DomainError as exc:
        fail(exc)


@national.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_runtime
def import_(rt: Runtime, file: Path) -> None:
    """Receive a signed batch FILE (compact JWS) from a registered partner.

    \b
    Example:
      idhub national import batch-2025-07-01.jws
    """
    try:
        with rt.db.transaction() as session:
            ctx = HrContext(
                session,
                rt.audit,
                rt.actor,
                reason=f"national import {file.name}",
                naming_pattern=rt.rules.naming.pattern,
            )
            row = imports.receive(ctx, file.read_text(encoding="utf-8"))
            click.echo(f"batch {row.batch_id}: {row.records} record(s) applied")
    except DomainError as exc:
        fail(exc)
