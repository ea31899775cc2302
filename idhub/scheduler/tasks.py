"""The clock's tasks for `idhub worker`: the daily sweep and the change sets whose
effective date came, run by the worker loop every minute (engine.periodic); and the
audit anchor, written every [audit] anchor_interval_s when the chain grew."""

from __future__ import annotations

import datetime as dt
import logging

from idhub.audit.anchors import AnchorWriter
from idhub.changes.chain import Actor, AuditLog
from idhub.changes.context import HrContext
from idhub.db import Database
from idhub.engine.periodic import Periodic
from idhub.identity import app_delegations
from idhub.reorg import changesets
from idhub.scheduler.sweep import sweep
from provisioning.rules import Rules

log = logging.getLogger(__name__)
SWEEP_EVERY_S = 60.0  # how often a worker checks whether the date changed


def daily_sweep(db: Database, audit: AuditLog, rules: Rules) -> Periodic:
    """Queue the people whose dates (start, end, retention) were reached since last time,
    and apply the change sets whose effective date came (one transaction)."""

    def run(actor: Actor) -> int:
        with db.transaction() as session:
            count = sweep(session, rules)
            ctx = HrContext(session, audit, actor, naming_pattern=rules.naming.pattern)
            applied = changesets.apply_due(ctx, dt.date.today())
            # Idempotent (each delegation is marked once): checked every minute.
            app_delegations.sweep(ctx, dt.date.today())
        if count:
            log.info("daily sweep queued %d people", count)
        if applied:
            log.info("applied %d scheduled change sets", len(applied))
        return count

    return Periodic("daily sweep", SWEEP_EVERY_S, run)


def audit_anchor(db: Database, writer: AnchorWriter, every_s: float) -> Periodic:
    """Sign the audit chain's head and write it outside the database (when it moved)."""

    def run(actor: Actor) -> None:
        try:
            with db.transaction() as session:
                anchor = writer.write(session)
        except OSError as exc:  # an unwritable folder must not stop the clock's other tasks
            log.error("audit anchor not written to %s: %s", writer.directory, exc)
            return
        if anchor is not None:
            log.info("audit chain anchored at event %d", anchor["event_id"])

    return Periodic("audit anchor", every_s, run)


def tasks(
    db: Database,
    audit: AuditLog,
    rules: Rules,
    anchors: AnchorWriter | None = None,
    anchor_every_s: float = 3600.0,
) -> list[Periodic]:
    """Everything the clock does, for the worker that converges the directory."""
    found = [daily_sweep(db, audit, rules)]
    if anchors is not None:
        found.append(audit_anchor(db, anchors, anchor_every_s))
    return found
