"""Jobs and reconcile at the console: the queue in one's scope, a job's error and plan,
retry (one, every parked one), a reconcile's drift report and its confirmed repair, the
guard's holds released with a reason; a commune's officer sees their commune's jobs only
and is refused the province's operations with a clear message."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from idhub.changes.outbox import enqueue
from idhub.models import AuditEvent, JobState, ProvisioningJob
from tests.console.grants import grant
from tests.console.ops import csrf, province_tree
from tests.fixtures.provisioning import directory, drain, entry


def _park(app, person_id: str, state: JobState = JobState.FAILED, error: str = "") -> int:  # type: ignore[no-untyped-def]
    """A job of this person in `state` (as the worker leaves it), its id."""
    with app.extensions["idhub"].db.transaction() as session:
        enqueue(session, [uuid.UUID(person_id)], "test", targets=["ldap"])
        session.flush()
        job = session.scalar(
            select(ProvisioningJob).where(ProvisioningJob.subject_id == uuid.UUID(person_id))
        )
        job.state, job.attempts = state, 5
        job.last_error = error or None
        return job.id


def _state(app, job_id: int) -> JobState:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return session.get(ProvisioningJob, job_id).state


def _actions(app) -> list[str]:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_province_admin_lists_reads_and_retries_jobs(app, api, hub, person, browser):
    grant(app, person["id"], "province_admin")
    province, district, communes, people, head = province_tree(api)
    drain(app)
    failed = _park(app, people[0]["id"], error="LDAP: Constraint violation (uid=lo.van.an)")
    other = _park(app, people[1]["id"], error="timeout")
    listed = browser.get(hub + "/admin/jobs", params={"state": "failed", "lang": "vi"})
    assert listed.status_code == 200
    assert "Constraint violation" in listed.text and people[0]["username"] in listed.text
    one = browser.get(hub + "/admin/jobs", params={"person": people[1]["username"]})
    assert f'/admin/jobs/{other}"' in one.text and f'/admin/jobs/{failed}"' not in one.text
    page = browser.get(hub + f"/admin/jobs/{failed}?lang=vi")
    assert page.status_code == 200 and "Constraint violation" in page.text
    assert "Tài khoản đã khớp" in page.text  # the plan: drained, nothing to change
    retried = browser.post(
        hub + f"/admin/jobs/{failed}/retry",
        data={"csrf_token": csrf(page.text)},
        allow_redirects=False,
    )
    assert retried.status_code == 303 and _state(app, failed) == JobState.PENDING
    again = browser.post(
        hub + f"/admin/jobs/{failed}/retry?lang=vi", data={"csrf_token": csrf(page.text)}
    )
    assert again.status_code == 409 and "Chỉ thử lại được tác vụ đang lỗi" in again.text
    every = browser.post(
        hub + "/admin/jobs/retry-parked",
        data={"csrf_token": csrf(page.text)},
        allow_redirects=False,
    )
    assert every.status_code == 303 and "retried=1" in every.headers["Location"]
    assert _state(app, other) == JobState.PENDING
    assert _actions(app).count("job.retry") == 2


def test_reconcile_reports_drift_and_repairs_after_confirmation(app, api, hub, person, browser):
    grant(app, person["id"], "province_admin")
    province, district, communes, people, head = province_tree(api)
    drain(app)
    dn = entry(app, people[2]["id"])[0]
    conn = directory(app)
    conn.delete_s(dn)  # someone removed an entry by hand
    conn.unbind_s()
    page = browser.get(hub + "/admin/reconcile?lang=vi")
    assert page.status_code == 200
    report = browser.post(
        hub + "/admin/reconcile?lang=vi", data={"csrf_token": csrf(page.text), "action": "scan"}
    )
    assert report.status_code == 200 and "missing" in report.text
    assert people[2]["username"] in report.text and "Sửa sai lệch" in report.text
    with app.extensions["idhub"].db.reading() as session:  # a report changes nothing
        assert session.scalar(select(ProvisioningJob.id)) is None
    repaired = browser.post(
        hub + "/admin/reconcile?lang=vi", data={"csrf_token": csrf(page.text), "action": "repair"}
    )
    assert "Đã đưa 1 người vào hàng đợi" in repaired.text
    drain(app)
    assert entry(app, people[2]["id"])[0] == dn


def test_guard_holds_are_listed_and_released_with_a_reason(app, api, hub, person, browser):
    grant(app, person["id"], "province_admin")
    province, district, communes, people, head = province_tree(api)
    drain(app)
    held = _park(app, people[0]["id"], JobState.HELD)
    page = browser.get(hub + "/admin/guard?lang=vi")
    assert f'/admin/jobs/{held}"' in page.text and "Bộ chặn đang bật" in page.text
    empty = browser.post(
        hub + "/admin/guard/release?lang=vi", data={"csrf_token": csrf(page.text), "reason": " "}
    )
    assert empty.status_code == 422 and "Hãy ghi lý do" in empty.text
    assert _state(app, held) == JobState.HELD
    done = browser.post(
        hub + "/admin/guard/release",
        data={"csrf_token": csrf(page.text), "reason": "Sáp nhập xã đã duyệt"},
        allow_redirects=False,
    )
    assert done.status_code == 303 and _state(app, held) == JobState.PENDING
    with app.extensions["idhub"].db.reading() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "guard.release"))
        assert event.reason == "Sáp nhập xã đã duyệt" and event.actor_id == person["id"]


def test_a_commune_officer_sees_their_jobs_only_and_no_province_operation(
    app, api, hub, person, browser
):
    province, district, communes, people, head = province_tree(api)
    grant(app, person["id"], "hr_officer", communes[0]["id"])
    drain(app)
    mine = _park(app, people[0]["id"], error="mine")
    theirs = _park(app, people[1]["id"], error="theirs")
    listed = browser.get(hub + "/admin/jobs")
    assert f'/admin/jobs/{mine}"' in listed.text and f'/admin/jobs/{theirs}"' not in listed.text
    assert "1 tác vụ" in browser.get(hub + "/admin/jobs?lang=vi").text  # not counted either
    assert browser.get(hub + f"/admin/jobs/{theirs}").status_code == 404
    token = csrf(browser.get(hub + "/admin/changesets/new").text)
    retry = browser.post(hub + f"/admin/jobs/{mine}/retry?lang=vi", data={"csrf_token": token})
    assert retry.status_code == 403 and "Cần quyền quản trị" in retry.text
    for path, data in (
        ("/admin/reconcile", {"action": "scan"}),
        ("/admin/guard/release", {"reason": "thử"}),
    ):
        refused = browser.post(hub + path + "?lang=vi", data={"csrf_token": token, **data})
        assert refused.status_code == 403 and "Chỉ quản trị viên cấp tỉnh" in refused.text
    assert _state(app, mine) == JobState.FAILED
