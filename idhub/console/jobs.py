"""Jobs and reconcile at the console: the provisioning queue in one's scope, a job's page
with its plan, retry, a reconcile's drift report and its repair, the guard's holds.

The same service functions as /api/v1/jobs, /reconcile and /guard/release: retry needs
`admin` (narrowed to one's scope); reconcile and releasing the guard are the province's.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, redirect, request, url_for
from sqlalchemy import Select, func, select
from werkzeug.wrappers import Response

from idhub.admin_scope import visible
from idhub.changes.guard import Guard, release
from idhub.console.changesets import error_text
from idhub.console.frame import (
    PAGE_SIZE,
    Admin,
    bp,
    form_reason,
    page_number,
    parse_uuid,
    render_console,
    render_console_message,
    require,
    require_form,
    section,
)
from idhub.db import get_db
from idhub.engine.preview import preview_person
from idhub.engine.reconcile import reconcile
from idhub.engine.retry import retry_job
from idhub.errors import DomainError
from idhub.models import JobState, Person, ProvisioningJob
from idhub.oidc.i18n import t
from idhub.services import ProvisioningSettings, current_hub

READ = ("hr:read", "hr:write", "admin")
ADMIN = ("admin",)
STATES = ("pending", "running", "failed", "held")

section("console.jobs_list", "console.jobs.title.list", READ)


def _guard() -> Guard:
    return Guard.from_settings(current_hub().settings.section(ProvisioningSettings))


def _person_id(session: Any, text: str) -> uuid.UUID | None:
    """A person filter: an id or a username (None: nobody by that name)."""
    found = parse_uuid(text)
    if found is not None:
        return found
    return session.scalar(select(Person.id).where(Person.username == text.strip().lower()))


def _filtered(session: Any, admin: Admin, args: Any) -> Select:
    query = select(ProvisioningJob, Person.username).outerjoin(
        Person, Person.id == ProvisioningJob.subject_id
    )
    state = args.get("state", "")
    if state in STATES:
        query = query.where(ProvisioningJob.state == JobState(state))
    target = args.get("target", "").strip()
    if target:
        query = query.where(ProvisioningJob.target == target)
    person = args.get("person", "").strip()
    if person:
        query = query.where(ProvisioningJob.subject_id == _person_id(session, person))
    return visible.jobs(query, session, admin.scope(*READ))


@bp.get("/jobs")
def jobs_list() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    page = page_number()
    with get_db().reading() as session:
        query = _filtered(session, admin, request.args)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.execute(
            query.order_by(ProvisioningJob.id).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
        ).all()
        targets = sorted(session.scalars(select(ProvisioningJob.target).distinct()))
        for job, _ in rows:
            session.expunge(job)
    filters = {k: request.args.get(k, "") for k in ("state", "target", "person")}
    return render_console(
        "console_jobs.html",
        title=t("console.jobs.title.list"),
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        filters=filters,
        states=STATES,
        targets=targets,
        may_retry=admin.may(*ADMIN),
        # reconcile is province-wide: a commune's officer is not offered a link to a 403
        province=admin.may(*ADMIN) and admin.scope(*ADMIN).everywhere,
        notice=t("console.jobs.notice.retried", count=request.args["retried"])
        if request.args.get("retried", "").isdigit()
        else None,
    )


def _job(admin: Admin, session: Any, job_id: int) -> ProvisioningJob:
    """The job if it is about someone (or a seat) in one's scope; 404 otherwise."""
    job = session.get(ProvisioningJob, job_id)
    if job is None:
        abort(404)
    try:
        visible.require_job(session, admin.scope(*READ), job_id)
    except DomainError:
        abort(404)
    return job


def _job_page(admin: Admin, job_id: int, status: int = 200, **extra: Any) -> Response:
    hub = current_hub()
    with get_db().reading() as session:
        job = _job(admin, session, job_id)
        person = session.get(Person, job.subject_id)
        plan, plan_error = None, None
        if person is not None:
            connector = hub.connectors.directory()
            try:
                plan = preview_person(
                    session, connector, hub.rules, person.id, base_dn=hub.connectors.base_dn
                )
            except Exception as exc:  # the directory away: the job's page still shows
                plan_error = str(exc)[:500]
            finally:
                connector.close()
        session.expunge_all()
    return render_console(
        "console_job.html",
        status,
        title=t("console.jobs.title.one", id=job_id),
        job=job,
        person=person,
        plan=plan,
        plan_error=plan_error,
        may_retry=admin.may(*ADMIN),
        **extra,
    )


@bp.get("/jobs/<int:job_id>")
def job_page(job_id: int) -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    notice = t("console.jobs.notice.retried_one") if request.args.get("retried") else None
    return _job_page(admin, job_id, notice=notice)


@bp.post("/jobs/<int:job_id>/retry")
def job_retry(job_id: int) -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    require_form()
    if not admin.may(*ADMIN):
        return _job_page(admin, job_id, 403, error=t("console.jobs.admin_required"))
    try:
        with get_db().transaction() as session:
            job = session.get(ProvisioningJob, job_id)
            if job is None:
                abort(404)
            try:
                visible.require_job(session, admin.scope(*ADMIN), job_id)
            except DomainError:
                abort(404)
            retry_job(session, current_hub().audit, admin.actor(), job)
    except DomainError as exc:
        return _job_page(admin, job_id, exc.status, error=error_text(exc, "console.jobs"))
    return redirect(url_for("console.job_page", job_id=job_id, retried=1), 303)


@bp.post("/jobs/retry-parked")
def jobs_retry_parked() -> Response:
    """Every failed job in one's scope back to the queue (those already queued again
    are left as they are); one transaction."""
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    require_form()
    if not admin.may(*ADMIN):
        return render_console_message("console.jobs.admin_required", 403)
    count = 0
    with get_db().transaction() as session:
        query = visible.jobs(
            select(ProvisioningJob).where(ProvisioningJob.state == JobState.FAILED),
            session,
            admin.scope(*ADMIN),
        )
        for job in session.scalars(query.order_by(ProvisioningJob.id)):
            try:
                retry_job(session, current_hub().audit, admin.actor(), job)
                count += 1
            except DomainError:
                continue  # already pending again: nothing to do for this one
    return redirect(url_for("console.jobs_list", state="failed", retried=count), 303)


# -- reconcile -------------------------------------------------------------------------------
def _province(admin: Admin, what: str) -> DomainError | None:
    try:
        admin.scope(*ADMIN).require_everywhere(what)
    except DomainError as exc:
        return exc
    return None


@bp.get("/reconcile")
def reconcile_page() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    refused = _province(admin, "reconcile the directory / đối soát thư mục")
    return render_console(
        "console_jobs_reconcile.html",
        403 if refused else 200,
        title=t("console.jobs.title.reconcile"),
        report=None,
        error=error_text(refused, "console.jobs") if refused else None,
        refused=bool(refused),
    )


@bp.post("/reconcile")
def reconcile_run() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    require_form()
    refused = _province(admin, "reconcile the directory / đối soát thư mục")
    if refused:
        return render_console(
            "console_jobs_reconcile.html",
            403,
            title=t("console.jobs.title.reconcile"),
            report=None,
            error=error_text(refused, "console.jobs"),
            refused=True,
        )
    repair = request.form.get("action") == "repair"
    confirm = repair and request.form.get("confirm_guard") == "yes"
    hub = current_hub()
    connector = hub.connectors.directory()
    try:
        report = reconcile(
            hub.db,
            connector,
            hub.rules,
            base_dn=hub.connectors.base_dn,
            repair=repair,
            confirm=confirm,
            guard=_guard(),
        )
    finally:
        connector.close()
    if confirm and report.repaired:  # as the API: a confirmed repair opens the guard
        release(hub.db, hub.audit, admin.actor(), _guard(), "reconcile repair confirmed")
    names = _usernames([uuid.UUID(d["person_id"]) for d in report.drifted])
    return render_console(
        "console_jobs_reconcile.html",
        title=t("console.jobs.title.reconcile"),
        report=report.as_dict(),
        names=names,
        repaired=repair,
        refused=False,
    )


def _usernames(ids: list[uuid.UUID]) -> dict[str, str]:
    if not ids:
        return {}
    with get_db().reading() as session:
        rows = session.execute(select(Person.id, Person.username).where(Person.id.in_(ids[:5000])))
        return {str(i): u or "" for i, u in rows}


# -- the mass-change guard ---------------------------------------------------------------------
def _guard_page(admin: Admin, status: int = 200, **extra: Any) -> Response:
    with get_db().reading() as session:
        query = select(ProvisioningJob, Person.username).outerjoin(
            Person, Person.id == ProvisioningJob.subject_id
        )
        query = visible.jobs(
            query.where(ProvisioningJob.state == JobState.HELD), session, admin.scope(*READ)
        )
        rows = session.execute(query.order_by(ProvisioningJob.id).limit(1000)).all()
        for job, _ in rows:
            session.expunge(job)
        confirmed = _guard().confirmed(session)
    return render_console(
        "console_jobs_guard.html",
        status,
        title=t("console.jobs.title.guard"),
        rows=rows,
        confirmed=confirmed,
        province=admin.may(*ADMIN) and admin.scope(*ADMIN).everywhere,
        **extra,
    )


@bp.get("/guard")
def guard_page() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    done = request.args.get("released", "")
    notice = t("console.jobs.notice.released", count=done) if done.isdigit() else None
    return _guard_page(admin, notice=notice)


@bp.post("/guard/release")
def guard_release() -> Response:
    admin = require(*READ)
    if isinstance(admin, Response):
        return admin
    require_form()
    refused = _province(admin, "release the mass-change guard / mở khóa chặn thay đổi hàng loạt")
    if refused:
        return _guard_page(admin, 403, error=error_text(refused, "console.jobs"))
    reason, problem = form_reason()
    if problem or not reason:
        return _guard_page(admin, 422, error=problem or t("console.jobs.guard.reason_required"))
    hub = current_hub()
    count = release(hub.db, hub.audit, admin.actor(), _guard(), reason)
    return redirect(url_for("console.guard_page", released=count), 303)
