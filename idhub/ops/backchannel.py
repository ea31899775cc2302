"""The back-channel logout target: the engine's loop delivering the sign-on's logouts.

On the roof because it joins two wings that do not know each other: the engine's worker
loop (claims, leases, backoff, restart safety) and the sign-on's logout notices
(idhub/oidc/backchannel.py). Each job is one ended session; its notices are POSTed one
per app, a fresh logout token each time. A notice an app answered (2xx) is deleted with
its job; an app that did not answer keeps its notice, and the job goes back to the queue
with the outbox's backoff (never parked: it is retried until the app answers).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

from idhub.changes.chain import Actor, AuditLog
from idhub.config import Settings
from idhub.db import Database
from idhub.engine.target import Delivers, Recording, Round
from idhub.engine.worker import Worker, WorkerSettings, new_worker_id
from idhub.keyring import Keyring
from idhub.oidc.backchannel import (
    BACKCHANNEL_TARGET,
    Notice,
    forget_notices,
    pending_notices,
    post_logout_token,
)
from idhub.oidc.logout import LogoutSettings, logout_token
from idhub.services import ProvisioningSettings

log = logging.getLogger(__name__)


class BackchannelTarget(Delivers):
    """Delivers the logout notices of a round's sessions (engine.target.Target)."""

    name = BACKCHANNEL_TARGET
    system = "apps' back-channel logout endpoints"
    subjects = "ended sessions"
    pipelined = False
    connector = None

    def __init__(self, keyring: Keyring, conf: LogoutSettings) -> None:
        self.keyring = keyring
        self.conf = conf
        self.db: Database | None = None
        self.audit: AuditLog | None = None

    def attach(self, db: Database, audit: AuditLog, actor: Actor) -> None:
        self.db, self.audit = db, audit

    def plan(self, db: Database, round_: Round) -> list[Notice]:
        with db.reading() as session:
            return pending_notices(session, list(round_.by_subject))

    def apply(self, plans: list[Notice]) -> None:
        """POST each notice; an app that does not answer is noted, not raised (the other
        apps of the round are not held up by it)."""
        assert self.db is not None and self.audit is not None, "attach() first"
        for notice in plans:
            if notice.uri is None:
                continue  # the app no longer takes back-channel logouts
            token = logout_token(
                self.db,
                self.audit,
                self.keyring,
                self.conf,
                notice.client_id,
                notice.person_id,
                notice.session_id,
            )
            notice.error = post_logout_token(notice.uri, token, self.conf.timeout_s)
            if notice.error is not None:
                log.warning(
                    "back-channel logout to %s not delivered (%s); will retry",
                    notice.client_id,
                    notice.error,
                )

    def draft(self, round_: Round, owned: set[int], now: dt.datetime) -> None:
        return None

    def record(self, rec: Recording, draft: Any) -> None:
        notices: list[Notice] = rec.round.plans or []
        forget_notices(rec.session, [n.id for n in notices if n.error is None])
        errors: dict[uuid.UUID, list[str]] = {}
        for n in notices:
            if n.error is not None:
                errors.setdefault(n.session_id, []).append(f"{n.client_id}: {n.error}")
        for subject in rec.round.by_subject:
            mine = rec.jobs_of(subject)
            if subject not in errors:
                rec.done.extend(j.id for j in mine)
                continue
            jobs = list(rec.queue.load(rec.session, [j.id for j in mine]).values())
            rec.queue.requeue(rec.session, jobs, "; ".join(errors[subject]), park=False)
        delivered = sum(1 for n in notices if n.error is None and n.uri is not None)
        if delivered:
            log.info("back-channel logouts delivered", extra={"delivered": delivered})


def backchannel_worker(
    db: Database, audit: AuditLog, keyring: Keyring, settings: Settings
) -> Worker:
    """The worker delivering back-channel logouts (run beside the directory's)."""
    return Worker(
        db,
        audit,
        BackchannelTarget(keyring, LogoutSettings.from_settings(settings)),
        settings=WorkerSettings.from_settings(settings.section(ProvisioningSettings)),
        worker_id=new_worker_id("logout:"),
    )
