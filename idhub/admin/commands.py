"""`idhub admin grant | revoke | list | roles`: delegated administration from the server's
command line (the operator there may grant anything; every grant is audited)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.admin import grants
from idhub.admin_scope import grants as held
from idhub.admin_scope.roles import ROLES
from idhub.admin_scope.scope import EVERYWHERE
from idhub.changes.context import HrContext
from idhub.errors import DomainError, NotFound
from idhub.identity.units import unit_by_code
from idhub.models import OrgUnit, Person
from idhub.runtime import Runtime, fail, pass_runtime


@click.group("admin")
def admin() -> None:
    """Delegated administration: roles over unit subtrees (docs/administration.md)."""


def _person(session: Session, who: str) -> uuid.UUID:
    """A person by id or username."""
    try:
        return uuid.UUID(who)
    except ValueError:
        found = session.scalar(select(Person.id).where(Person.username == who))
        if found is None:
            raise NotFound(f"No person with username {who!r}.", code="person_not_found") from None
        return found


def _ctx(rt: Runtime, session: Session, reason: str | None) -> HrContext:
    return HrContext(session, rt.audit, rt.actor, reason=reason, scope=EVERYWHERE)


@admin.command("grant")
@click.option("--person", "who", required=True, help="Username or id of the person.")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--unit", "unit_code", help="Code of the subtree's root unit (none: province).")
@click.option("--from", "valid_from", type=click.DateTime(["%Y-%m-%d"]), help="First day.")
@click.option("--to", "valid_to", type=click.DateTime(["%Y-%m-%d"]), help="Last day (inclusive).")
@click.option("--reason", required=True, help="Why (audited), e.g. the decision number.")
@pass_runtime
def grant_command(
    rt: Runtime,
    who: str,
    role: str,
    unit_code: str | None,
    valid_from: dt.datetime | None,
    valid_to: dt.datetime | None,
    reason: str,
) -> None:
    """Grant a role over a unit's subtree, with validity dates.

    \b
    Example:
      idhub admin grant --person annv --role hr_officer --unit XA.TANDINH \\
        --to 2027-06-30 --reason "QĐ 12/QĐ-UBND"
    """
    try:
        with rt.db.transaction() as session:
            data = {
                "person_id": _person(session, who),
                "role": role,
                "unit_id": unit_by_code(session, unit_code).id if unit_code else None,
                "valid_from": valid_from.date() if valid_from else None,
                "valid_to": valid_to.date() if valid_to else None,
                "reason": reason,
            }
            made = grants.grant_role(_ctx(rt, session, reason), data, grants.everywhere)
            grant_id = made.id
    except DomainError as exc:
        fail(exc)
    click.echo(str(grant_id))


@admin.command("revoke")
@click.argument("grant_id", type=click.UUID)
@click.option("--reason", required=True, help="Why (audited).")
@pass_runtime
def revoke_command(rt: Runtime, grant_id: uuid.UUID, reason: str) -> None:
    """Revoke a grant now (it stays in the history).

    \b
    Example:
      idhub admin revoke 0b9e…-… --reason "hết nhiệm vụ"
    """
    try:
        with rt.db.transaction() as session:
            grant = grants.get_grant(session, grant_id)
            grants.revoke(_ctx(rt, session, reason), grant, grants.everywhere)
    except DomainError as exc:
        fail(exc)
    click.echo(f"revoked {grant_id}")


@admin.command("list")
@click.option("--person", "who", help="Username or id.")
@click.option("--unit", "unit_code", help="Grants over this unit.")
@click.option("--all", "show_all", is_flag=True, help="Expired and revoked ones too.")
@click.option("--json", "as_json", is_flag=True)
@pass_runtime
def list_command(
    rt: Runtime, who: str | None, unit_code: str | None, show_all: bool, as_json: bool
) -> None:
    """Grants by hand (valid today unless --all).

    \b
    Example:
      idhub admin list --unit XA.TAMDUONG --all
    """
    try:
        with rt.db.session(write=False) as session:
            filters: dict = {}
            if who:
                filters["person_id"] = _person(session, who)
            if unit_code:
                filters["unit_id"] = unit_by_code(session, unit_code).id
            if not show_all:
                filters["active_on"] = dt.date.today()
            rows = list(session.scalars(grants.listed(EVERYWHERE, filters, session)))
            codes = dict(session.execute(select(OrgUnit.id, OrgUnit.code)).all())
    except DomainError as exc:
        fail(exc)
    out = [
        {
            "id": str(g.id),
            "subject": f"person:{g.person_id}" if g.person_id else f"client:{g.client_id}",
            "role": g.role,
            "unit": codes.get(g.unit_id, "*") if g.unit_id else "*",
            "valid_from": g.valid_from.isoformat(),
            "valid_to": g.valid_to.isoformat() if g.valid_to else None,
            "revoked": g.revoked_at is not None,
        }
        for g in rows
    ]
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    for row in out:
        click.echo(
            f"{row['id']}  {row['role']:<16} {row['unit']:<16} {row['subject']}  "
            f"{row['valid_from']}..{row['valid_to'] or ''}{'  revoked' if row['revoked'] else ''}"
        )


@admin.command("roles")
@click.argument("who")
@pass_runtime
def roles_command(rt: Runtime, who: str) -> None:
    """What a person holds today, by hand and by rule (their posts).

    \b
    Example:
      idhub admin roles annv
    """
    try:
        with rt.db.session(write=False) as session:
            found = held.held_by_person(session, _person(session, who), rt.rules)
            codes = dict(session.execute(select(OrgUnit.id, OrgUnit.code)).all())
    except DomainError as exc:
        fail(exc)
    for h in found:
        unit = codes.get(h.unit_id, "*") if h.unit_id else "*"
        click.echo(f"{h.role:<16} {unit:<16} {h.source}")
