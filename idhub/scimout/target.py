"""The outbound SCIM target: the engine's worker loop keeping the apps' SCIM servers in
step with the people (docs/scim.md "Outbound").

A job is a person (target `app_scim`, queued by the outbox beside the directory's job
while any app has a SCIM endpoint). A round, as the change events' (idhub/events):

* plan — per (app, person): the projection now (its audience applied, audience.py)
  against the one last sent (`scim_state`): create (POST /Users, the remote id kept),
  update (PUT with If-Match when the app gave an ETag), deactivate (`active: false`), or
  delete once a deactivated user is older than the app's `delete_after_days`. A pair held
  as a dead letter is skipped until an admin retries it. The app's groups follow:
  a user enters the group of its primary post's unit and those of the app roles it holds
  (audience.py's `scim_groups`; each made once, found first by `externalId`, its id kept
  in `scim_group_state`) and leaves those it no longer belongs to, by PATCH of `members`.
* apply — each pair in turn; an app that does not answer is not tried again in the round.
* record — a done pair's state becomes what was sent; an undone one keeps it and the job
  goes back with the outbox's backoff (nothing is lost while an app is away). When every
  app the round had something for is away, the round is handed back as it was
  (TargetUnavailable) and the worker probes the apps. An app refusing `max_attempts`
  times in a row gets a dead letter (`scim_state.dead`, audited, listed in the API).
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
from idhub.changes.outbox import SCIM_TARGET
from idhub.db import Database, among
from idhub.engine.reach import answers
from idhub.engine.target import Delivers, Recording, Round
from idhub.engine.worker import Worker, WorkerSettings, new_worker_id
from idhub.models import OAuthClient, ScimGroupState, ScimState, ScimSubscription, utcnow
from idhub.scimout.audience import Audience, app_projections, group_kind, groups_sent
from idhub.scimout.remote import AppClient, Away, Refused
from idhub.services import Hub, ProvisioningSettings

log = logging.getLogger(__name__)
TIMEOUT_S = 5.0


@dataclass
class App:
    audience: Audience
    url: str
    token: str
    delete_after_days: int | None


@dataclass
class Change:
    """One (app, person): what to do and the state it leads to."""

    client_id: str
    person_id: uuid.UUID
    op: str  # create | update | deactivate | delete | forget
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    remote_id: str | None
    etag: str | None
    failures: int
    error: str | None = None
    refused: bool = False
    done: bool = False


@dataclass
class _Move:
    """A round's membership changes of one group (`name`: to make it when not found;
    None when it only loses members)."""

    name: str | None
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


def plan_op(
    state: Any, after: dict[str, Any] | None, keep_days: int | None, now: dt.datetime
) -> str | None:
    """What takes the app from what it holds (`state`) to `after`; None: nothing."""
    remote = state.remote_id if state is not None else None
    if after is not None:
        if remote is None:
            return "create"
        if not state.active or state.projection != after:
            return "update"
        return None
    if remote is None:
        return "forget" if state is not None and state.projection is not None else None
    if state.active:
        return "deactivate"
    since = state.inactive_since
    if keep_days is not None and since is not None and since + dt.timedelta(keep_days) <= now:
        return "delete"
    return None


class ScimTarget(Delivers):
    """Keeps the apps' users in step with a round's people (engine.target.Target)."""

    name = SCIM_TARGET
    system = "apps' SCIM servers"
    subjects = "people"
    pipelined = False

    def __init__(self, hub: Hub, max_attempts: int, timeout_s: float = TIMEOUT_S) -> None:
        self.hub = hub
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.apps: dict[str, App] = {}
        self.clients: dict[str, AppClient] = {}
        self.away: list[str] = []  # the URLs of the apps that did not answer last round
        self.groups: dict[tuple[str, str], str] = {}  # (app, externalId) → the app's group id
        self.new_groups: set[tuple[str, str]] = set()  # made (or found) in this round
        self.connector = AppsProbe(self)
        self.audit: AuditLog | None = None

    def attach(self, db: Database, audit: AuditLog, actor: Actor) -> None:
        self.audit = audit

    def plan(self, db: Database, round_: Round) -> list[Change]:
        people = list(round_.by_subject)
        now = utcnow()
        with db.reading() as session:
            self.apps = load_apps(session, self.hub)
            if not self.apps:
                return []
            wanted = app_projections(
                session,
                people,
                [a.audience for a in self.apps.values()],
                self.hub.rules,
                self.hub.connectors.base_dn,
            )
            rows = session.scalars(
                select(ScimState).where(among(session, ScimState.person_id, people))
            )
            states = {(s.client_id, s.person_id): s for s in rows}
            for s in states.values():
                session.expunge(s)
            self.groups = {
                (g.client_id, g.external_id): g.remote_id
                for g in session.scalars(select(ScimGroupState))
            }
        plans = []
        for person_id in people:
            for client_id, app in self.apps.items():
                state = states.get((client_id, person_id))
                if state is not None and state.dead:
                    continue  # held as a dead letter until an admin retries it
                after = wanted[person_id][client_id]
                op = plan_op(state, after, app.delete_after_days, now)
                if op is None:
                    continue
                plans.append(
                    Change(
                        client_id,
                        person_id,
                        op,
                        state.projection if state is not None else None,
                        after,
                        state.remote_id if state is not None else None,
                        state.etag if state is not None else None,
                        state.failures if state is not None else 0,
                    )
                )
        return plans

    def client(self, client_id: str) -> AppClient:
        app = self.apps[client_id]
        found = self.clients.get(client_id)
        if found is None:
            found = self.clients[client_id] = AppClient(app.url, app.token, self.timeout_s)
        return found

    def apply(self, plans: list[Change]) -> None:
        away: dict[str, str] = {}
        users_done: list[Change] = []
        for change in plans:
            if change.client_id in away:
                change.error = away[change.client_id]
                continue
            try:
                self._apply_one(change)
                users_done.append(change)
            except Away as exc:
                change.error = str(exc)
                away[change.client_id] = change.error
                self._drop_client(change.client_id)
            except Refused as exc:
                change.error, change.refused = str(exc), True
        self._move_groups([c for c in users_done if c.client_id not in away], away)
        for change in users_done:
            if change.client_id in away and change.error is None:
                change.error = away[change.client_id]
            change.done = change.error is None
        self.away = [self.apps[c].url for c in away]
        answered = any(c.done or c.refused for c in plans)
        if away and not answered:
            raise TargetUnavailable("; ".join(f"{c}: {e}" for c, e in away.items()))
        for client_id, error in away.items():
            log.warning("SCIM to %s not done (%s); will retry", client_id, error)

    def _apply_one(self, c: Change) -> None:
        if c.op == "forget":
            return
        client = self.client(c.client_id)
        if c.op == "create":
            assert c.after is not None
            remote = client.create(c.after)
            c.remote_id, c.etag = remote.id, remote.etag
        elif c.op == "update":
            assert c.after is not None and c.remote_id is not None
            remote = client.replace(c.remote_id, c.etag, c.after, True)
            c.etag = remote.etag
        elif c.op == "deactivate":
            assert c.before is not None and c.remote_id is not None
            remote = client.replace(c.remote_id, c.etag, c.before, False)
            c.etag = remote.etag
        elif c.op == "delete":
            assert c.remote_id is not None
            client.delete(c.remote_id)
            c.remote_id = c.etag = None

    def _move_groups(self, changes: list[Change], away: dict[str, str]) -> None:
        """Users leave the groups (units' and roles') they no longer belong to and enter
        their new ones, a deactivated user leaving them all: one PATCH per group for the
        whole round, not one per user. A refused PATCH fails the changes it carried; an
        app gone away fails all its changes (the caller sees it in `away`)."""
        moves: dict[tuple[str, str], _Move] = {}
        for c in changes:
            if c.remote_id is None:
                continue
            old = groups_sent(c.before) if c.op != "create" else {}
            new = groups_sent(c.after) if c.op in ("create", "update") else {}
            for external_id in old.keys() - new.keys():
                move = moves.setdefault((c.client_id, external_id), _Move(None))
                move.remove.append(c.remote_id)
                move.changes.append(c)
            for external_id in new.keys() - old.keys():
                move = moves.setdefault((c.client_id, external_id), _Move(new[external_id]))
                move.name = move.name or new[external_id]
                move.add.append(c.remote_id)
                move.changes.append(c)
        for (client_id, external_id), move in sorted(moves.items()):
            if client_id in away:
                continue
            client = self.client(client_id)
            try:
                group_id = self._group_id(client, client_id, external_id, move.name)
                if group_id is not None:  # a group never made has nobody to remove
                    client.members(group_id, add=move.add, remove=move.remove)
            except Away as exc:
                away[client_id] = str(exc)
                self._drop_client(client_id)
            except Refused as exc:
                for c in move.changes:
                    c.error, c.refused = c.error or str(exc), True

    def _group_id(
        self, client: AppClient, client_id: str, external_id: str, name: str | None
    ) -> str | None:
        """The app's id of a group: kept, else found by `externalId`, else made (when a
        `name` is given: a group to leave is not made)."""
        key = (client_id, external_id)
        if key not in self.groups:
            found = client.group(external_id, name)
            if found is None:
                return None
            self.groups[key] = found
            self.new_groups.add(key)
        return self.groups[key]

    def _drop_client(self, client_id: str) -> None:
        found = self.clients.pop(client_id, None)
        if found is not None:
            found.close()

    def draft(self, round_: Round, owned: set[int], now: dt.datetime) -> None:
        return None

    def record(self, rec: Recording, draft: Any) -> None:
        plans: list[Change] = rec.round.plans or []
        session = rec.session
        pending: set[uuid.UUID] = set()
        for c in plans:
            state = session.get(ScimState, (c.client_id, c.person_id))
            if state is None:
                state = ScimState(client_id=c.client_id, person_id=c.person_id)
                state.failures, state.dead, state.active = 0, False, False
                session.add(state)
            state.updated_at = rec.now
            if c.done:
                _store_done(state, c, rec.now)
                continue
            state.last_error = (c.error or "")[:2000]
            if c.refused:
                state.failures = c.failures + 1
            if state.failures >= self.max_attempts:
                self._dead_letter(rec, c, state)
            else:
                pending.add(c.person_id)
        for subject in rec.round.by_subject:
            mine = rec.jobs_of(subject)
            if subject not in pending:
                rec.done.extend(j.id for j in mine)
                continue
            jobs = list(rec.queue.load(session, [j.id for j in mine]).values())
            errors = "; ".join(
                f"{c.client_id}: {c.error}" for c in plans if c.person_id == subject and c.error
            )
            rec.queue.requeue(session, jobs, errors, park=False)
        _store_groups(session, {k: self.groups[k] for k in self.new_groups}, rec.now)
        self.new_groups = set()
        done = sum(1 for c in plans if c.done)
        if done:
            log.info("SCIM changes done", extra={"done": done})

    def _dead_letter(self, rec: Recording, c: Change, state: ScimState) -> None:
        assert self.audit is not None, "attach() first"
        state.dead, state.failures = True, 0
        self.audit.record(
            rec.session,
            actor=rec.actor_for(rec.jobs_of(c.person_id)),
            action="scim.dead_letter",
            object_type="person",
            object_id=c.person_id,
            after={"client_id": c.client_id, "op": c.op, "error": c.error},
        )
        log.warning("SCIM to %s dead-lettered: %s", c.client_id, c.error)

    def close(self) -> None:
        for client_id in list(self.clients):
            self._drop_client(client_id)


def _store_done(state: ScimState, c: Change, now: dt.datetime) -> None:
    state.failures, state.dead, state.last_error = 0, False, None
    state.remote_id, state.etag = c.remote_id, c.etag
    if c.op in ("create", "update"):
        state.projection, state.active, state.inactive_since = c.after, True, None
    elif c.op == "deactivate":
        state.projection, state.active, state.inactive_since = None, False, now
    elif c.op in ("delete", "forget"):
        state.projection, state.active, state.inactive_since = None, False, None


def _store_groups(session: Session, groups: dict[tuple[str, str], str], now: dt.datetime) -> None:
    for (client_id, external_id), remote_id in groups.items():
        row = session.get(ScimGroupState, (client_id, external_id))
        if row is None:
            session.add(
                ScimGroupState(
                    client_id=client_id,
                    external_id=external_id,
                    kind=group_kind(external_id),
                    remote_id=remote_id,
                    updated_at=now,
                )
            )


def load_apps(session: Session, hub: Hub) -> dict[str, App]:
    """The apps with a SCIM endpoint (a disabled client is sent nothing)."""
    return {
        s.client_id: App(
            Audience(s.client_id, s.subtree, s.role_prefix),
            s.url,
            hub.keyring.decrypt(s.token_encrypted),
            s.delete_after_days,
        )
        for s in session.scalars(
            select(ScimSubscription)
            .join(OAuthClient, OAuthClient.client_id == ScimSubscription.client_id)
            .where(OAuthClient.disabled_at.is_(None))
        )
    }


class AppsProbe:
    """The target's health check while every app it had work for is away."""

    def __init__(self, target: ScimTarget) -> None:
        self.target = target

    def check(self) -> Health:
        return answers(self.target.away, self.target.timeout_s)


def scim_worker(hub: Hub) -> Worker:
    """The worker keeping the apps' SCIM users in step (run beside the directory's)."""
    settings = WorkerSettings.from_settings(hub.settings.section(ProvisioningSettings))
    return Worker(
        hub.db,
        hub.audit,
        ScimTarget(hub, settings.max_attempts),
        settings=settings,
        worker_id=new_worker_id("scim:"),
    )


__all__ = ["Change", "ScimTarget", "load_apps", "plan_op", "scim_worker"]
