"""/api/v1: provisioning state per person, dry-run plans, the job queue, reconciliation, guard."""

from __future__ import annotations

import uuid

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from idhub.admin_scope import visible
from idhub.changes.guard import Guard, release
from idhub.db import db_session
from idhub.engine.preview import preview_person
from idhub.engine.reconcile import reconcile
from idhub.engine.retry import retry_job
from idhub.errors import NotFound
from idhub.identity.people import get_person
from idhub.models import AccountLink, JobState, ProvisioningJob
from idhub.services import Directory, ProvisioningSettings, current_hub
from idhub.web.common import (
    actor,
    current_scope,
    list_many,
    paginate,
    read_one,
    scoped,
    where_equal,
    writes,
)
from idhub.web.schemas import ErrorSchema, Text

blp = Blueprint(
    "provisioning",
    __name__,
    url_prefix="/api/v1",
    description="Provisioning: account state, dry-run plans, jobs, reconciliation.",
)
ADMIN = ["admin"]


class JobSchema(Schema):
    id = fields.Integer()
    subject_id = fields.UUID()
    target = fields.String()
    state = fields.Enum(JobState, by_value=True)
    reason = fields.String()
    coalesced = fields.Integer()
    urgent = fields.Boolean(
        dump_only=True,
        metadata={
            "description": "Read-only. True when the job cuts access (a leaver, a disable, "
            "a mail delegation ending): the workers take it ahead of bulk work "
            "(joiners, quota, moves). A job coalesced from several changes stays urgent if "
            "any of them was."
        },
    )
    attempts = fields.Integer()
    next_try_at = fields.DateTime()
    lease_owner = fields.String(allow_none=True)
    lease_expires_at = fields.DateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    request_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AccountStateSchema(Schema):
    target = fields.String()
    state = fields.String(metadata={"description": "in_sync | pending | failed | absent"})
    dn = fields.String(allow_none=True)
    enabled = fields.Boolean(allow_none=True)
    last_error = fields.String(allow_none=True)
    last_converged_at = fields.DateTime(allow_none=True)
    job = fields.Nested(JobSchema, allow_none=True)


class PlanSchema(Schema):
    person_id = fields.UUID()
    target = fields.String()
    in_sync = fields.Boolean()
    desired = fields.Dict(
        metadata={"description": "State, DN, roles, groups, attributes, reasons."}
    )
    actual = fields.Dict(allow_none=True, metadata={"description": "What the directory holds."})
    operations = fields.List(fields.Dict(), metadata={"description": "What converge would do."})


class ReconcileReportSchema(Schema):
    scanned_accounts = fields.Integer()
    people = fields.Integer()
    in_sync = fields.Integer()
    drift = fields.Dict(keys=fields.String(), values=fields.Integer())
    drifted = fields.List(fields.Dict())
    orphans = fields.List(fields.String())
    guard_tripped = fields.Boolean()
    repaired = fields.Integer()


class JobQuerySchema(Schema):
    state = fields.Enum(JobState, by_value=True)
    subject_id = fields.UUID()


class ReconcileQuerySchema(Schema):
    repair = fields.Boolean(load_default=False)
    confirm = fields.Boolean(load_default=False)


class GuardReleaseSchema(Schema):
    reason = Text(required=True, max_length=500)


class GuardReleasedSchema(Schema):
    released_jobs = fields.Integer()


def _connector() -> Directory:
    return current_hub().connectors.directory()


def _base_dn() -> str:
    return current_hub().connectors.base_dn


def _guard() -> Guard:
    return Guard.from_settings(current_hub().settings.section(ProvisioningSettings))


@blp.route("/people/<uuid:person_id>/accounts")
class PersonAccounts(MethodView):
    @read_one(blp, AccountStateSchema(many=True), "person")
    def get(self, person_id: uuid.UUID):
        """The person's account on each target: in sync, pending, failed (with the error)."""
        session = db_session()
        get_person(session, person_id)
        links = {
            link.target: link
            for link in session.scalars(
                select(AccountLink).where(AccountLink.person_id == person_id)
            )
        }
        jobs = {
            job.target: job
            for job in session.scalars(
                select(ProvisioningJob)
                .where(ProvisioningJob.subject_id == person_id)
                .order_by(ProvisioningJob.id)
            )
        }
        states = []
        for target in sorted(set(links) | set(jobs) | {"ldap"}):
            link, job = links.get(target), jobs.get(target)
            state = link.state.value if link else "pending"
            if job is not None and job.state in (JobState.PENDING, JobState.RUNNING, JobState.HELD):
                state = "pending"
            if job is not None and job.state == JobState.FAILED:
                state = "failed"
            states.append(
                {
                    "target": target,
                    "state": state,
                    "dn": link.name if link else None,
                    "enabled": link.enabled if link else None,
                    "last_error": (job.last_error if job else None)
                    or (link.last_error if link else None),
                    "last_converged_at": link.last_converged_at if link else None,
                    "job": job,
                }
            )
        return states


@blp.route("/people/<uuid:person_id>/plan")
class PersonPlan(MethodView):
    @read_one(blp, PlanSchema, "person")
    def get(self, person_id: uuid.UUID):
        """Dry run: what converging this person would change in the directory, and why."""
        connector = _connector()
        try:
            return preview_person(
                db_session(),
                connector,
                current_hub().rules,
                person_id,
                base_dn=_base_dn(),
            )
        finally:
            connector.close()


@blp.route("/jobs")
class Jobs(MethodView):
    @list_many(blp, JobQuerySchema, JobSchema(many=True), page_size=100, max_page_size=1000)
    def get(self, filters, pagination_parameters):
        """The provisioning queue (pending, running, failed, held jobs)."""
        query = select(ProvisioningJob).order_by(ProvisioningJob.id)
        query = where_equal(query, ProvisioningJob, filters, ("state", "subject_id"))
        query = visible.jobs(query, db_session(), current_scope())
        return paginate(query, pagination_parameters)


@blp.route("/jobs/<int:job_id>/retry")
class JobRetry(MethodView):
    @scoped(blp, ADMIN)
    @writes
    @blp.response(200, JobSchema)
    @blp.alt_response(404, schema=ErrorSchema, description="No such job.")
    @blp.alt_response(409, schema=ErrorSchema, description="Job is not failed.")
    def post(self, job_id: int):
        """Send a failed job back to the queue (after fixing the cause)."""
        session = db_session()
        job = session.get(ProvisioningJob, job_id)
        if job is None:
            raise NotFound(f"No job {job_id}.", code="job_not_found")
        retry_job(session, current_hub().audit, actor(), job)
        return job


@blp.route("/reconcile")
class Reconcile(MethodView):
    @scoped(blp, ADMIN)
    @blp.arguments(ReconcileQuerySchema, location="query")
    @blp.response(200, ReconcileReportSchema)
    def post(self, options):
        """Scan the directory, report drift and orphans; `repair=true` queues converges."""
        current_scope().require_everywhere("reconcile the directory / đối soát thư mục")
        hub = current_hub()
        connector = _connector()
        try:
            report = reconcile(
                hub.db,
                connector,
                hub.rules,
                base_dn=_base_dn(),
                repair=options["repair"],
                confirm=options["confirm"],
                guard=_guard(),
            )
        finally:
            connector.close()
        if options["repair"] and options["confirm"] and report.repaired:
            release(
                hub.db,
                hub.audit,
                actor(),
                _guard(),
                "reconcile repair confirmed",
            )
        return report.as_dict()


@blp.route("/guard/release")
class GuardRelease(MethodView):
    @scoped(blp, ADMIN)
    @blp.arguments(GuardReleaseSchema)
    @blp.response(200, GuardReleasedSchema)
    def post(self, data):
        """Confirm mass changes held by the guard; it stays open for one window."""
        current_scope().require_everywhere("release the mass-change guard")
        hub = current_hub()
        count = release(
            hub.db,
            hub.audit,
            actor(),
            _guard(),
            data["reason"],
        )
        return {"released_jobs": count}
