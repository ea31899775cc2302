"""Preview a change set: apply it in a transaction that is rolled back, converge on paper.

The preview is the real computation, not an estimate: the effect is written exactly as an
apply writes it, then the converge planner reads the directory and works out every
person's new DN, addresses and groups; then everything is undone. What the preview shows
is therefore what applying, then converging, will do (unless HR or the directory change
in between; the apply checks again).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections import Counter
from typing import Any, cast

from sqlalchemy import select

from connectors.dn import normalize_dn
from idhub.changes.chain import Actor, AuditLog
from idhub.changes.context import HrContext
from idhub.db import Database
from idhub.engine.plans import PersonPlan
from idhub.engine.targets.ldap import compute_plans
from idhub.engine.targets.seat_facts import all_seat_ids, ensure_seats, seat_facts, seat_posts
from idhub.models import Person
from idhub.reorg.changesets import check, get_change_set, problem_json, write_effect
from idhub.services import Directory
from provisioning.rules import Rules
from provisioning.seats import desired_seat

CSV_COLUMNS = (
    "person_id",
    "username",
    "full_name",
    "state",
    "old_dn",
    "new_dn",
    "old_mail",
    "new_mail",
    "aliases",
    "groups_gained",
    "groups_lost",
    "operations",
)


def preview(
    db: Database,
    connector: Directory,
    rules: Rules,
    change_set_id: uuid.UUID,
    *,
    base_dn: str,
) -> dict[str, Any]:
    session = db.session(write=True)
    try:
        change_set = get_change_set(session, change_set_id)
        effect = check(session, change_set)
        result: dict[str, Any] = {
            "change_set_id": str(change_set.id),
            "decision_number": change_set.decision_number,
            "effective_date": change_set.effective_date.isoformat(),
            "ok": effect.ok,
            "problems": [problem_json(p) for p in effect.problems],
        }
        if not effect.ok:
            return result
        on = max(dt.date.today(), change_set.effective_date)
        seats_before = _seat_states(session, rules, all_seat_ids(session), on, base_dn)
        nothing_recorded = cast(AuditLog, _Unrecorded())
        ctx = HrContext(
            session, nothing_recorded, Actor("system", "preview"), reason=change_set.reason
        )
        people = write_effect(ctx, change_set, effect)
        session.flush()
        plans = compute_plans(session, connector, rules, sorted(people), base_dn=base_dn, today=on)
        names = dict(
            session.execute(
                select(Person.id, Person.username).where(Person.id.in_(list(people)))
            ).all()
        )
        rows = [_row(p, names.get(p.person_id)) for p in plans]
        result["units"] = {
            "created": len(effect.new_units),
            "retired": len(effect.retired),
            "moved": len(effect.parents),
            "renamed": len(effect.renames),
        }
        result["people"] = {
            "affected": len(rows),
            "moved": sum(1 for r in rows if r["old_dn"] and r["old_dn"] != r["new_dn"]),
            "address_changes": sum(1 for r in rows if r["old_mail"] != r["new_mail"]),
            "group_changes": sum(1 for r in rows if r["groups_gained"] or r["groups_lost"]),
        }
        result["collisions"] = _collisions(rows)
        result["rows"] = rows
        result["seats"] = _seat_rows(session, rules, people, seats_before, on, base_dn)
        return result
    finally:
        session.rollback()
        session.close()


class _Unrecorded:
    """The audit log for a preview: nothing to record (all is rolled back), and no reason
    to hold the chain lock while the directory is read."""

    def record(self, *args: Any, **kwargs: Any) -> None:
        return None

    def record_many(self, *args: Any, **kwargs: Any) -> int:
        return 0


def _seat_states(
    session: Any, rules: Rules, seat_ids: list[uuid.UUID], on: dt.date, base_dn: str
) -> dict[uuid.UUID, dict[str, Any]]:
    """What each seat mailbox is, by HR, on the preview's date: state, address, holders."""
    states = {}
    for fact in seat_facts(session, seat_ids, on):
        desired = desired_seat(fact.snapshot, rules, base_dn=base_dn)
        states[fact.row.id] = {
            "seat_id": str(fact.row.id),
            "uid": fact.row.uid,
            "unit": fact.snapshot.unit.code,
            "position": fact.row.position_code,
            "state": desired.state.value,
            "mail": (desired.attributes.get("mail") or (None,))[0],
            "holders": list(fact.snapshot.holders),
        }
    return states


def _seat_rows(
    session: Any,
    rules: Rules,
    people: set[uuid.UUID],
    before: dict[uuid.UUID, dict[str, Any]],
    on: dt.date,
    base_dn: str,
) -> list[dict[str, Any]]:
    """The seat mailboxes the change set touches: opened (a new unit's post), closed (a
    retired unit's, vacant ones too), handed over, or given a new address; every known
    seat is compared (a province has hundreds), the unchanged are left out."""
    posts = seat_posts(session, rules, sorted(people))
    seat_ids = set(before) | set(ensure_seats(session, rules, posts) if posts else ())
    after = _seat_states(session, rules, sorted(seat_ids), on, base_dn)
    rows = []
    for seat_id, now in sorted(after.items(), key=lambda item: item[1]["uid"]):
        was = before.get(seat_id)
        if was is None:
            change = "opened"
        elif was["state"] == "enabled" and now["state"] != "enabled":
            change = "closed"
        elif (was["state"], was["mail"], was["holders"]) != (
            now["state"],
            now["mail"],
            now["holders"],
        ):
            change = "changed"
        else:
            continue
        rows.append(
            {
                **now,
                "change": change,
                "old_mail": was["mail"] if was else None,
                "old_holders": was["holders"] if was else [],
            }
        )
    return rows


def _values(account: Any, attribute: str) -> list[str]:
    return list(account.get(attribute)) if account is not None else []


def _row(p: PersonPlan, username: str | None) -> dict[str, Any]:
    desired, actual = p.desired, p.actual
    wanted = {normalize_dn(g) for g in desired.groups}
    had = {normalize_dn(g) for g in (actual.groups or ())} if actual is not None else set()
    return {
        "person_id": str(p.person_id),
        "username": username,
        "full_name": (desired.attributes.get("cn") or ("",))[0],
        "state": desired.state.value,
        "old_dn": actual.name if actual is not None else None,
        "new_dn": desired.name,
        "old_mail": next(iter(_values(actual, "mail")), None),
        "new_mail": (desired.attributes.get("mail") or (None,))[0],
        "aliases": sorted(desired.attributes.get("idhubMailAlias", ())),
        "groups_gained": sorted(wanted - had),
        "groups_lost": sorted(had - wanted),
        "operations": [op.kind.value for op in p.operations],
    }


def _collisions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Two people given one DN or one address. Identifiers are unique across the hub, so a
    merge cannot create a second `annv`; this check proves it for the change set."""
    found = []
    for key in ("new_dn", "new_mail"):
        counts = Counter(r[key].casefold() for r in rows if r[key])
        for value, count in counts.items():
            if count > 1:
                found.append({"field": key, "value": value, "people": count})
    return found


# Spreadsheets run a cell that starts with one of these as a formula (OWASP: CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """One CSV cell: lists joined with "; ", None empty, a would-be formula quoted with '."""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def to_csv(result: dict[str, Any]) -> str:
    """The per-person rows for sign-off (lists joined with "; ", no cell a formula)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in result.get("rows", ()):
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()
