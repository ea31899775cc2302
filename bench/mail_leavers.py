"""The leavers' part of `python -m bench mail` (bench/mail.py): each leaver's post ended
while a backlog of mailbox creations drains, then IMAP polled (a fresh login and the
session opened before the backlog) until both are shut out; the stages from the audit,
and an explanation for a leaver not cut within the bound."""

from __future__ import annotations

import datetime as dt
import imaplib
import statistics
import threading
import time
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select

from idhub.models import ProvisioningJob
from idhub.ops.devstack.mail import MailStack

if TYPE_CHECKING:
    from bench.mail import MailHub

PASSWORD = "Mật-khẩu-thư-2026"


def imap_login(stack: MailStack, user: str) -> imaplib.IMAP4:
    conn = imaplib.IMAP4(stack.host, stack.imap_port, timeout=10)
    conn.authenticate("PLAIN", lambda _: b"\0" + user.encode() + b"\0" + PASSWORD.encode())
    return conn


def login_outcome(stack: MailStack, user: str) -> str:
    """The outcome: "refused", "accepted", or what went wrong ("abort: …", "timeout: …")."""
    try:
        imap_login(stack, user).logout()
        return "accepted"
    except imaplib.IMAP4.abort as exc:  # a busy server dropped us: ask again
        return f"abort: {exc}"
    except imaplib.IMAP4.error:
        return "refused"
    except OSError as exc:  # a busy server did not answer in time: ask again
        return f"timeout: {exc}"


def login_refused(stack: MailStack, user: str) -> bool:
    outcome = login_outcome(stack, user)
    LAST_LOGIN[user] = outcome
    return outcome == "refused"


def session_ended(session: imaplib.IMAP4) -> bool:
    try:
        session.noop()
        return False
    except (imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError):
        return True


def cut_off(
    hub: MailHub,
    stack: MailStack,
    leaver: tuple[str, str, str, imaplib.IMAP4],
    spread_s: float,
    out: dict[str, float],
    backlog: dict[str, int],
    timeout: float = 180.0,
) -> None:
    """End the leaver's post (their IMAP session open since before the backlog) and time
    until both the login is refused and the session has ended."""
    person_id, post_id, user, session = leaver
    time.sleep(spread_s)
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    with LOCK:  # the Flask test client of this process: one request at a time
        started = time.monotonic()
        CHANGED[person_id] = time.time()
        hub.post(
            f"/api/v1/assignments/{post_id}/end", {"end_date": yesterday, "reason": "Nghỉ việc"}
        )
    ended = refused = False
    ended_at = refused_at = 0.0
    while time.monotonic() - started < timeout:
        if not ended and session_ended(session):
            ended, ended_at = True, time.monotonic()
        if not refused:
            attempt = time.monotonic()
            if login_refused(stack, user):
                refused, refused_at = True, attempt
        if ended and refused:
            out[user] = time.monotonic() - started
            # When the refused attempt began: Dovecot (2.3) holds a failed login's answer
            # ~0.5 s even with auth_failure_delay = 0, which `out` counts.
            ATTEMPT_REFUSED[user] = max(ended_at, refused_at) - started
            backlog[user] = hub.pending()
            return
        time.sleep(0.05)
    out[user] = float("inf")
    NOT_CUT[user] = {
        "person_id": person_id,
        "session_ended": ended,
        "login_refused": refused,
        "last_login": LAST_LOGIN.get(user, ""),
        # Dovecot's cached lookup flushed by hand now: if the login is refused then, the
        # directory was right and the cache held a stale acceptance.
        "after_a_flush_by_hand": flushed_login(stack, user),
    }


def flushed_login(stack: MailStack, user: str) -> str:
    try:
        stack.doveadm("auth", "cache", "flush", user)
    except Exception as exc:  # noqa: BLE001 - a diagnosis, not the measure
        return f"flush failed: {exc}"
    return login_outcome(stack, user)


def explain_not_cut(hub: MailHub) -> dict[str, dict]:
    """For a leaver not cut within the bound: which half held, what the audit recorded of
    them and any job of theirs still queued or parked (to find why)."""
    from idhub.models import AuditEvent

    with hub.db.reading() as session:
        for detail in NOT_CUT.values():
            pid = detail["person_id"]
            detail["audit"] = [
                f"{action} +{at.timestamp() - CHANGED[pid]:.3f} s"
                for action, at in session.execute(
                    select(AuditEvent.action, AuditEvent.at)
                    .where(AuditEvent.object_id == pid)
                    .order_by(AuditEvent.id)
                )
            ]
            detail["jobs"] = [
                f"{job.target} {job.state.value} {job.last_error or ''}".strip()
                for job in session.scalars(
                    select(ProvisioningJob).where(ProvisioningJob.subject_id == uuid.UUID(pid))
                )
            ]
    return NOT_CUT


LOCK = threading.Lock()
NOT_CUT: dict[str, dict] = {}  # user → what held when the bound ran out
LAST_LOGIN: dict[str, str] = {}  # user → the outcome of their last login attempt
ATTEMPT_REFUSED: dict[str, float] = {}  # user → s from the HR change to the refused attempt
CHANGED: dict[str, float] = {}  # person id → when their HR change was sent (epoch s)


def leaver_stages(hub: MailHub) -> dict[str, float]:
    """Median seconds from the HR change to the directory's disable and to the mail
    target's (the audit events written when each was recorded)."""
    from idhub.models import AuditEvent

    stages: dict[str, list[float]] = {"directory_disabled": [], "mailbox_disabled": []}
    with hub.db.reading() as session:
        for action, key in (("account.disable", "directory_disabled"),
                            ("mailbox.disable", "mailbox_disabled")):  # fmt: skip
            for object_id, at in session.execute(
                select(AuditEvent.object_id, AuditEvent.at).where(
                    AuditEvent.action == action, AuditEvent.object_id.in_(list(CHANGED))
                )
            ):
                stages[key].append(at.timestamp() - CHANGED[object_id])
    return {k: round(statistics.median(v), 3) for k, v in stages.items() if v}
