"""Back-channel logout (OIDC Back-Channel Logout 1.0) through the outbox.

Ending a session (logout.end_access) queues, in its own transaction, one notice per app
that took part in it (`backchannel_logout` rows) and one outbox job per session (target
`BACKCHANNEL_TARGET`, subject = the session). The worker delivers them (the roof's
`idhub/ops/backchannel.py` wires this module into the engine's loop): a logout token is
signed at delivery time and POSTed; an app that does not answer 2xx is tried again with
the outbox's backoff until it does. A restart loses nothing: the notices are rows.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idhub.changes.outbox import enqueue
from idhub.db import among, table_of, upsert
from idhub.models import BackchannelNotice, OAuthClient, utcnow

log = logging.getLogger(__name__)
BACKCHANNEL_TARGET = "backchannel_logout"


@dataclass
class Notice:
    """One logout to deliver; `error` is set by a failed delivery."""

    id: int
    session_id: uuid.UUID
    client_id: str
    person_id: uuid.UUID
    uri: str | None  # None: the app has no back-channel URI any more (nothing to send)
    error: str | None = None


def queue_notices(
    session: Session, notices: Iterable[tuple[str, uuid.UUID, uuid.UUID]], reason: str
) -> int:
    """Queue (client id, person id, session id) notices and their sessions' jobs, in the
    transaction that ends the sessions. Returns the notices queued."""
    unique = list(dict.fromkeys(notices))
    if not unique:
        return 0
    now = utcnow()
    rows = [
        {"client_id": c, "person_id": p, "session_id": s, "created_at": now} for c, p, s in unique
    ]
    statement = upsert(session, table_of(BackchannelNotice)).on_conflict_do_nothing(
        index_elements=["session_id", "client_id"]
    )
    session.execute(statement, rows)
    enqueue(session, {s for _c, _p, s in unique}, reason, targets=(BACKCHANNEL_TARGET,))
    return len(rows)


def pending_notices(session: Session, session_ids: Sequence[uuid.UUID]) -> list[Notice]:
    """The notices still to deliver for these sessions, with each app's current URI."""
    if not session_ids:
        return []
    rows = session.execute(
        select(
            BackchannelNotice.id,
            BackchannelNotice.session_id,
            BackchannelNotice.client_id,
            BackchannelNotice.person_id,
            OAuthClient.backchannel_logout_uri,
        )
        .outerjoin(OAuthClient, OAuthClient.client_id == BackchannelNotice.client_id)
        .where(among(session, BackchannelNotice.session_id, list(session_ids)))
        .order_by(BackchannelNotice.id)
    )
    return [Notice(i, s, c, p, uri or None) for i, s, c, p, uri in rows]


def forget_notices(session: Session, notice_ids: Sequence[int]) -> None:
    """Delivered (or nowhere to deliver): gone."""
    if notice_ids:
        session.execute(
            delete(BackchannelNotice)
            .where(among(session, BackchannelNotice.id, list(notice_ids)))
            .execution_options(synchronize_session=False)
        )


def post_logout_token(uri: str, token: str, timeout_s: float) -> str | None:
    """POST the logout token to the app; None when it answered 2xx, else why not."""
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    req = urllib.request.Request(  # noqa: S310 - the registered https/http URI of the app
        uri,
        data=body,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as response:  # noqa: S310
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"[:500]


__all__ = [
    "BACKCHANNEL_TARGET",
    "Notice",
    "forget_notices",
    "pending_notices",
    "post_logout_token",
    "queue_notices",
]
