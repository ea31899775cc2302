"""What a change set alters without ending a post, kept in `post_history`.

A post that starts on or after the effective date is re-pointed to its new unit
("repointed": the unit it was planned in); a unit renamed or recoded keeps its row, so
the posts held in it keep the name and code they were held under ("renamed"). Posts that
end and start again need no row: both halves are assignments of their own.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import insert, or_, select
from sqlalchemy.orm import Session

from idhub.models import Assignment, ChangeSet, OrgUnit, PostHistory
from provisioning import reorg

_CHUNK = 900


def keep_history(
    session: Session,
    change_set: ChangeSet,
    kind: str,
    posts: list[tuple[reorg.Post, str | None]],
    now: dt.datetime,
) -> None:
    """A post_history row per post about to change in place: the unit it had before."""
    if not posts:
        return
    unit_ids = {uuid.UUID(post.unit_id) for post, _ in posts}
    names = {
        uid: (code, name)
        for uid, code, name in session.execute(
            select(OrgUnit.id, OrgUnit.code, OrgUnit.name).where(OrgUnit.id.in_(unit_ids))
        )
    }
    rows = []
    for post, to_unit in posts:
        unit_id = uuid.UUID(post.unit_id)
        code, name = names[unit_id]
        rows.append(
            {
                "id": uuid.uuid4(),
                "assignment_id": uuid.UUID(post.id),
                "person_id": uuid.UUID(post.person_id),
                "change_set_id": change_set.id,
                "kind": kind,
                "effective_date": change_set.effective_date,
                "unit_id": unit_id,
                "unit_code": code,
                "unit_name": name,
                "to_unit_id": uuid.UUID(to_unit) if to_unit else unit_id,
                "recorded_at": now,
            }
        )
    for offset in range(0, len(rows), _CHUNK):
        session.execute(insert(PostHistory), rows[offset : offset + _CHUNK])


def keep_renamed(
    session: Session, change_set: ChangeSet, renamed: list[OrgUnit], now: dt.datetime
) -> None:
    """Posts held in a unit being renamed keep the name they were held under."""
    if not renamed:
        return
    rows = session.execute(
        select(
            Assignment.id,
            Assignment.person_id,
            Assignment.unit_id,
            Assignment.position_id,
            Assignment.kind,
            Assignment.start_date,
            Assignment.end_date,
        ).where(
            Assignment.unit_id.in_([u.id for u in renamed]),
            Assignment.start_date < change_set.effective_date,
            or_(
                Assignment.end_date.is_(None),
                Assignment.end_date >= change_set.effective_date,
            ),
        )
    )
    posts: list[tuple[reorg.Post, str | None]] = [
        (reorg.Post(str(a), str(p), str(u), str(pos), kind.value, start, end), None)
        for a, p, u, pos, kind, start, end in rows
    ]
    keep_history(session, change_set, "renamed", posts, now)
