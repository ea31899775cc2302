"""The change-events target: the engine's worker loop delivering the apps' events.

A job is a person (target `app_events`, queued by the outbox beside the directory's job
while any app subscribes). A round:

* plan — per (app, person): the projection now against the one last delivered
  (`event_state`), giving the net events (projection.py); a pair held as a dead letter is
  skipped until an admin retries it.
* apply — POST each pair's events in order, signed (delivery.py); the first failure stops
  that pair (the rest waits, so an app sees a person's events in order), and an app that
  does not answer at all is not tried again in this round.
* record — a delivered pair's state becomes what was sent; an undelivered one keeps it
  and the job goes back with the outbox's backoff, so nothing is lost while an app is
  down and the app gets the net events when it is back. When every app the round had
  something for is away, the round is handed back as it was (TargetUnavailable) and the
  worker probes the apps (`AppsProbe`, engine/outage.py) instead of backing jobs off.
  An app that answers with an error `max_attempts` times in a row gets a dead letter
  (audited) and the pair is held.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import Health, TargetUnavailable
from idhub.changes.chain import Actor, AuditLog
from idhub.changes.outbox import EVENTS_TARGET
from idhub.db import Database, among, table_of, upsert
from idhub.engine.target import Delivers, Recording, Round
from idhub.engine.worker import Worker, WorkerSettings, new_worker_id
from idhub.events.delivery import answers, post_event
from idhub.events.projection import Event, events_between, projections
from idhub.models import EventDeadLetter, EventState, EventSubscription, OAuthClient, utcnow
from idhub.services import Hub, ProvisioningSettings

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0


@dataclass
class App:
    client_id: str
    url: str
    types: list[str]
    secret: str


@dataclass
class Delivery:
    """One (app, person): the events to send and the state they lead to."""

    client_id: str
    person_id: uuid.UUID
    seq: int  # the last sequence number once delivered
    projection: dict[str, Any] | None
    events: list[Event]
    failures: int  # refusals in a row before this round
    error: str | None = None
    refused: bool = False  # the app answered with an error (counts toward a dead letter)
    sent: list[str] = field(default_factory=list)


class EventsTarget(Delivers):
    """Delivers the change events of a round's people (engine.target.Target)."""

    name = EVENTS_TARGET
    system = "apps' change-event endpoints"
    subjects = "people"
    pipelined = False

    def __init__(self, hub: Hub, max_attempts: int, timeout_s: float = TIMEOUT_S) -> None:
        self.hub = hub
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.apps: dict[str, App] = {}
        self.away: list[str] = []  # the URLs of the apps that did not answer last round
        self.connector = AppsProbe(self)  # engine/outage.py probes it while all are away
        self.db: Database | None = None
        self.audit: AuditLog | None = None

    def attach(self, db: Database, audit: AuditLog, actor: Actor) -> None:
        self.db, self.audit = db, audit

    def plan(self, db: Database, round_: Round) -> list[Delivery]:
        people = list(round_.by_subject)
        with db.reading() as session:
            self.apps = {
                s.client_id: App(
                    s.client_id, s.url, list(s.types), self.hub.keyring.decrypt(s.secret_encrypted)
                )
                for s in session.scalars(
                    select(EventSubscription)
                    .join(OAuthClient, OAuthClient.client_id == EventSubscription.client_id)
                    .where(OAuthClient.disabled_at.is_(None))  # a disabled app hears nothing
                )
            }
            if not self.apps:
                return []
            # Each client's app key (the client id for a client registered without one).
            # and whether it may see the hub's groups (`hub_roles`, docs/sso.md).
            clients = session.execute(
                select(OAuthClient.client_id, OAuthClient.app_key, OAuthClient.hub_roles).where(
                    OAuthClient.client_id.in_(list(self.apps))
                )
            ).all()
            keys = {r.client_id: r.app_key for r in clients}
            apps = {c: keys.get(c) or c for c in self.apps}
            hidden = {r.client_id for r in clients if not r.hub_roles}
            now = projections(
                session, people, apps, self.hub.rules, self.hub.connectors.base_dn,
                without_groups=hidden,
            )  # fmt: skip
            rows = session.execute(
                select(
                    EventState.client_id,
                    EventState.person_id,
                    EventState.seq,
                    EventState.projection,
                    EventState.failures,
                    EventState.dead,
                ).where(among(session, EventState.person_id, people))
            )
            states = {(r.client_id, r.person_id): r for r in rows}
        plans = []
        for person_id in people:
            for app in self.apps.values():
                state = states.get((app.client_id, person_id))
                if state is not None and state.dead:
                    continue  # held as a dead letter until an admin retries it
                before = state.projection if state is not None else None
                after = now[person_id][app.client_id]
                if before == after:
                    continue
                seq = state.seq if state is not None else 0
                events = events_between(app.client_id, person_id, seq, before, after, app.types)
                last = events[-1].seq if events else seq
                failures = state.failures if state is not None else 0
                plans.append(Delivery(app.client_id, person_id, last, after, events, failures))
        return plans

    def apply(self, plans: list[Delivery]) -> None:
        """POST each pair's events in order; an app that does not answer is noted, not
        raised (the other apps of the round are not held up by it)."""
        away: dict[str, str] = {}
        for delivery in plans:
            app = self.apps[delivery.client_id]
            for event in delivery.events:
                if app.client_id in away:
                    delivery.error = away[app.client_id]
                    break
                outcome = post_event(
                    app.url, app.secret, event.id, event.body(), self.timeout_s, utcnow()
                )
                if outcome.error is not None:
                    delivery.error, delivery.refused = outcome.error, outcome.reachable
                    if not outcome.reachable:
                        away[app.client_id] = outcome.error
                    break
                delivery.sent.append(event.id)
        self.away = [self.apps[c].url for c in away]
        answered = any(d.sent or d.refused for d in plans)
        if away and not answered:
            # Every app the round had something for is away: the round goes back as it
            # was and the worker waits for one of them (engine/outage.py), not the jobs.
            raise TargetUnavailable("; ".join(f"{c}: {e}" for c, e in away.items()))
        for client_id, error in away.items():
            log.warning("change events to %s not delivered (%s); will retry", client_id, error)

    def draft(self, round_: Round, owned: set[int], now: dt.datetime) -> None:
        return None

    def record(self, rec: Recording, draft: Any) -> None:
        assert self.audit is not None, "attach() first"
        plans: list[Delivery] = rec.round.plans or []
        session = rec.session
        pending: set[uuid.UUID] = set()
        done = [d for d in plans if d.error is None]
        _store_delivered(session, done, rec.now)
        delivered = sum(len(d.sent) for d in done)
        for d in plans:
            if d.error is None:
                continue
            state = session.get(EventState, (d.client_id, d.person_id))
            if state is None:
                state = EventState(client_id=d.client_id, person_id=d.person_id, seq=0)
                state.failures, state.dead = 0, False
                session.add(state)
            state.updated_at = rec.now
            state.last_error = d.error[:2000]
            if d.refused:
                state.failures = d.failures + 1
            if state.failures >= self.max_attempts:
                self._dead_letter(rec, d, state)
            else:
                pending.add(d.person_id)
        for subject in rec.round.by_subject:
            mine = rec.jobs_of(subject)
            if subject not in pending:
                rec.done.extend(j.id for j in mine)
                continue
            jobs = list(rec.queue.load(session, [j.id for j in mine]).values())
            errors = "; ".join(
                f"{d.client_id}: {d.error}" for d in plans if d.person_id == subject and d.error
            )
            rec.queue.requeue(session, jobs, errors, park=False)
        if delivered:
            log.info("change events delivered", extra={"delivered": delivered})

    def _dead_letter(self, rec: Recording, d: Delivery, state: EventState) -> None:
        """The app refused the pair's events `max_attempts` times: kept for an admin."""
        assert self.audit is not None
        state.dead, state.failures = True, 0
        unsent = [e for e in d.events if e.id not in d.sent]
        for event in unsent:
            rec.session.add(
                EventDeadLetter(
                    event_id=event.id,
                    client_id=d.client_id,
                    person_id=d.person_id,
                    type=event.type,
                    seq=event.seq,
                    payload=event.payload,
                    error=d.error,
                    attempts=self.max_attempts,
                    created_at=rec.now,
                )
            )
        if d.sent:  # what did arrive moves the state on; the rest waits in the list
            state.seq = next(e.seq for e in d.events if e.id == d.sent[-1])
        self.audit.record(
            rec.session,
            actor=rec.actor_for(rec.jobs_of(d.person_id)),
            action="event.dead_letter",
            object_type="person",
            object_id=d.person_id,
            after={"client_id": d.client_id, "events": [e.id for e in unsent], "error": d.error},
        )
        log.warning("change events to %s dead-lettered: %s", d.client_id, d.error)


class AppsProbe:
    """The target's health check (connectors.base.ChecksHealth): does one of the apps
    that were away accept a connection again?"""

    def __init__(self, target: EventsTarget) -> None:
        self.target = target

    def check(self) -> Health:
        return answers(self.target.away, self.target.timeout_s)


def _store_delivered(session: Session, done: list[Delivery], now: dt.datetime) -> None:
    """What the apps now know, for every pair delivered in the round: one statement."""
    if not done:
        return
    statement = upsert(session, table_of(EventState))
    columns = ("seq", "projection", "failures", "dead", "last_error", "updated_at")
    statement = statement.on_conflict_do_update(
        index_elements=["client_id", "person_id"],
        set_={column: statement.excluded[column] for column in columns},
    )
    rows = [
        {
            "client_id": d.client_id,
            "person_id": d.person_id,
            "seq": d.seq,
            "projection": d.projection,
            "failures": 0,
            "dead": False,
            "last_error": None,
            "updated_at": now,
        }
        for d in done
    ]
    session.execute(statement, rows)


def events_worker(hub: Hub) -> Worker:
    """The worker delivering change events to the apps (run beside the directory's)."""
    settings = WorkerSettings.from_settings(hub.settings.section(ProvisioningSettings))
    return Worker(
        hub.db,
        hub.audit,
        EventsTarget(hub, settings.max_attempts),
        settings=settings,
        worker_id=new_worker_id("events:"),
    )


__all__ = ["Delivery", "EventsTarget", "events_worker"]
