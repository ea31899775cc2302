"""Pushing exports to the province's data-integration platform: an engine target.

A job is an export (target `national_push`, queued in the transaction that made the
export when `[national] push_url` is set). A round POSTs each export's signed document
byte for byte (`Content-Type` of its format, `Digest`, `Idempotency-Key` = the export id,
the platform's bearer token). The platform answering 2xx marks the export pushed and is
audited; a platform that does not answer hands the round back untouched and the worker
probes it (engine/outage.py), so nothing is lost while it is away; an error answer is
retried with the outbox's backoff and parked after `max_attempts` (then retried from the
jobs API like any parked job).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import ssl
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from connectors.base import Health, TargetUnavailable
from idhub.changes.chain import Actor, AuditLog
from idhub.db import Database, among
from idhub.engine.reach import answers
from idhub.engine.target import Delivers, Recording, Round
from idhub.engine.worker import Worker, WorkerSettings, new_worker_id
from idhub.models import NationalExport
from idhub.national.exports import MEDIA_TYPES, PUSH_TARGET
from idhub.national.settings import NationalSettings
from idhub.services import Hub, ProvisioningSettings

log = logging.getLogger(__name__)


@dataclass
class Push:
    export_id: uuid.UUID
    media_type: str
    document: str
    sha256: str
    error: str | None = None
    reachable: bool = True


class NationalPushTarget(Delivers):
    """Delivers a round's exports to the platform (engine.target.Target)."""

    name = PUSH_TARGET
    system = "national data-integration platform"
    subjects = "exports"
    pipelined = False

    def __init__(self, conf: NationalSettings, max_attempts: int) -> None:
        self.conf = conf
        self.max_attempts = max_attempts
        self.token = conf.token()
        self.context = ssl.create_default_context(cafile=conf.push_ca_file or None)
        self.connector = PlatformProbe(conf)
        self.audit: AuditLog | None = None

    def attach(self, db: Database, audit: AuditLog, actor: Actor) -> None:
        self.audit = audit

    def plan(self, db: Database, round_: Round) -> list[Push]:
        with db.reading() as session:
            rows = session.execute(
                select(
                    NationalExport.id,
                    NationalExport.format,
                    NationalExport.document,
                    NationalExport.sha256,
                ).where(
                    among(session, NationalExport.id, list(round_.by_subject)),
                    NationalExport.pushed_at.is_(None),
                )
            )
            return [Push(r.id, MEDIA_TYPES[r.format], r.document, r.sha256) for r in rows]

    def apply(self, plans: list[Push]) -> None:
        for push in plans:
            self._post(push)
            if not push.reachable:
                # The platform is away: the whole round goes back as it was.
                raise TargetUnavailable(push.error or "no answer")

    def _post(self, push: Push) -> None:
        body = push.document.encode()
        headers = {
            "Content-Type": push.media_type,
            "Digest": "sha-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode(),
            "Idempotency-Key": str(push.export_id),
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(  # noqa: S310 - https only (NationalSettings)
            self.conf.push_url, data=body, method="POST", headers=headers
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=self.conf.push_timeout_s, context=self.context
            ) as response:
                if not 200 <= response.status < 300:
                    push.error = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            push.error = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            push.error, push.reachable = f"{type(exc).__name__}: {exc}"[:500], False

    def draft(self, round_: Round, owned: set[int], now: dt.datetime) -> None:
        return None

    def record(self, rec: Recording, draft: Any) -> None:
        assert self.audit is not None, "attach() first"
        session = rec.session
        failed = {p.export_id: p.error for p in rec.round.plans or [] if p.error}
        for push in rec.round.plans or []:
            if push.error is not None:
                continue
            row = session.get(NationalExport, push.export_id)
            if row is not None:
                row.pushed_at, row.push_error = rec.now, None
            self.audit.record(
                session,
                actor=rec.actor_for(rec.jobs_of(push.export_id)),
                action="national.export.push",
                object_type="national_export",
                object_id=push.export_id,
                after={"url": self.conf.push_url, "sha256": push.sha256},
            )
        for subject in rec.round.by_subject:
            mine = rec.jobs_of(subject)
            if subject not in failed:
                rec.done.extend(j.id for j in mine)
                continue
            error = failed[subject] or ""
            row = session.get(NationalExport, subject)
            if row is not None:
                row.push_error = error
            jobs = list(rec.queue.load(session, [j.id for j in mine]).values())
            park = any(j.attempts >= self.max_attempts for j in jobs)
            rec.queue.requeue(session, jobs, f"push refused: {error}", park=park)
            log.warning("national export %s not pushed (%s)", subject, error)


class PlatformProbe:
    """The target's health check: does the platform accept a connection again?"""

    def __init__(self, conf: NationalSettings) -> None:
        self.conf = conf

    def check(self) -> Health:
        return answers([self.conf.push_url], self.conf.push_timeout_s)


def push_worker(hub: Hub) -> Worker | None:
    """The worker pushing exports (run beside the directory's), when a platform is set."""
    conf = hub.settings.section(NationalSettings)
    if not conf.pushing:
        return None
    settings = WorkerSettings.from_settings(hub.settings.section(ProvisioningSettings))
    return Worker(
        hub.db,
        hub.audit,
        NationalPushTarget(conf, settings.max_attempts),
        settings=settings,
        worker_id=new_worker_id("national:"),
    )


__all__ = ["PUSH_TARGET", "NationalPushTarget", "push_worker"]
