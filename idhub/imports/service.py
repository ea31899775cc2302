"""The import's flow: check an upload (nothing written), keep it for its uploader, confirm
it as ONE all-or-nothing batch through the bulk path, and follow its people to converged.

Between preview and confirm the checked rows stay server-side (`ImportUpload`), owned by
the uploader, with a digest: a confirm applies exactly what was previewed, checked again
(the database may have changed since), and never rows from a form.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from idhub.admin_scope.scope import Scope
from idhub.changes.context import HrContext
from idhub.identity.api.batches import apply_batch
from idhub.imports.checks import Checked, batch_items, check_rows, check_sheet
from idhub.imports.reader import read
from idhub.models import ImportUpload, JobState, ProvisioningJob, utcnow

KEPT_FOR = dt.timedelta(hours=2)


def preview(session: Session, scope: Scope, data: bytes) -> Checked:
    """Read and check every row (raises reader.Refused for a file refused as a whole)."""
    return check_sheet(session, scope, read(data))


def _canonical(checked: Checked) -> list[list[Any]]:
    return [[r.row, r.raw] for r in checked.rows]


def digest_of(rows: list[Any]) -> str:
    text = json.dumps(rows, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def keep(session: Session, person_id: uuid.UUID, filename: str, checked: Checked) -> ImportUpload:
    """Store a checked upload for its uploader's confirmation (expired ones are dropped)."""
    now = utcnow()
    session.execute(
        delete(ImportUpload).where(ImportUpload.expires_at < now, ImportUpload.state == "pending")
    )
    rows = _canonical(checked)
    upload = ImportUpload(
        id=uuid.uuid4(),
        person_id=person_id,
        filename=filename[:255],
        digest=digest_of(rows),
        rows=rows,
        row_count=len(rows),
        state="pending",
        created_at=now,
        expires_at=now + KEPT_FOR,
    )
    session.add(upload)
    return upload


def owned(
    session: Session, upload_id: uuid.UUID, person_id: uuid.UUID, *, for_update: bool = False
) -> ImportUpload | None:
    """The upload if this person made it (someone else's answers as absent). Locked for a
    confirm, so two confirms of one upload (two tabs) apply it once."""
    upload = session.get(ImportUpload, upload_id, with_for_update=for_update)
    if upload is None or upload.person_id != person_id:
        return None
    return upload


def usable(upload: ImportUpload, digest: str) -> bool:
    """Pending, not expired, and the rows are still those previewed (digest from the form
    the person confirmed, and recomputed from what is stored)."""
    expires = (
        upload.expires_at if upload.expires_at.tzinfo else upload.expires_at.replace(tzinfo=dt.UTC)
    )
    return (
        upload.state == "pending"
        and expires > utcnow()
        and upload.rows is not None
        and hmac.compare_digest(digest_of(upload.rows), upload.digest)
        and hmac.compare_digest(digest.encode(), upload.digest.encode())
    )


def recheck(session: Session, scope: Scope, upload: ImportUpload) -> Checked:
    rows = [(int(number), dict(raw)) for number, raw in upload.rows or []]
    return Checked(check_rows(session, scope, rows), [])


def apply(ctx: HrContext, checked: Checked, *, upload: ImportUpload | None = None) -> Applied:
    """ONE batch through the bulk path (same rules, audit events and converge jobs as
    POST /api/v1/batches), in the caller's transaction."""
    result = apply_batch(ctx, batch_items(checked.rows))
    people = [i["id"] for i in result["items"] if i["op"] == "create_person"]
    if upload is not None:
        upload.state, upload.applied_at = "applied", utcnow()
        upload.people, upload.rows = people, None  # the outcome stays; the personal data go
    return Applied(people, result["jobs"], result["items"])


@dataclass(frozen=True)
class Applied:
    people: list[str]
    jobs: int
    items: list[dict[str, Any]]


@dataclass(frozen=True)
class Progress:
    total: int
    waiting: int  # a converge job pending or running
    failed: int  # parked or held: needs an administrator

    @property
    def done(self) -> int:
        return self.total - self.waiting - self.failed

    @property
    def finished(self) -> bool:
        return self.waiting == 0


def progress(session: Session, people: list[str]) -> Progress:
    """How many of these people are converged: a person is done once no job of theirs is
    left (the worker deletes a job when it succeeds)."""
    ids = [uuid.UUID(p) for p in people]
    waiting = failed = 0
    for offset in range(0, len(ids), 500):
        chunk = ids[offset : offset + 500]
        rows = session.execute(
            select(ProvisioningJob.state, func.count(func.distinct(ProvisioningJob.subject_id)))
            .where(ProvisioningJob.subject_id.in_(chunk))
            .group_by(ProvisioningJob.state)
        ).all()
        for state, count in rows:
            if state in (JobState.PENDING, JobState.RUNNING):
                waiting += count
            else:
                failed += count
    return Progress(len(ids), min(waiting, len(ids)), min(failed, len(ids) - waiting))
