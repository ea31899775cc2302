"""The hub's Prometheus metrics (prometheus-client), and the folder their processes share.

Counters and histograms only, bumped where things happen (a request, a sign-in, a token,
a job); what the database knows (the queue) is read at scrape time (ops/metrics.py), so no
hot path pays for it. Under gunicorn every process writes its values to files in
PROMETHEUS_MULTIPROC_DIR (the hub sets it for its web workers and `idhub worker`), and a
scrape sums them; without it (tests, one process) they live in this process.

Every metric has labels, so a value is made at its first `labels()`: a process that sets
the folder before it counts anything (`use_folder`) writes to files even when
prometheus_client was imported earlier.

What a database change did (a job parked, a sign-in recorded) is counted when its
transaction commits (`on_commit`): a change rolled back, or retried after a
serialization failure, counts nothing, or once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client import Counter, Histogram, disable_created_metrics, values
from sqlalchemy import event
from sqlalchemy.orm import Session

ENV = "PROMETHEUS_MULTIPROC_DIR"
# No `*_created` series: the multiprocess mode has none either, so one process and many
# answer alike (and a scrape is a third shorter).
disable_created_metrics()
_FILE = re.compile(r"^[a-z_]+_(\d+)\.db$")  # counter_123.db, gauge_livesum_123.db, …

# Seconds from a change being queued to the target holding it: one HR write to a directory
# entry is milliseconds, a backlog minutes, an outage hours.
_CONVERGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

HTTP_SECONDS = Histogram(
    "idhub_http_request_duration_seconds",
    "Time to answer a request, by Flask endpoint (not path: the label set stays small).",
    ["endpoint", "method"],
    buckets=_HTTP_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "idhub_http_requests_total",
    "Requests answered, by Flask endpoint and status class (2xx, 4xx, …).",
    ["endpoint", "method", "status"],
)
CONVERGE_SECONDS = Histogram(
    "idhub_converge_latency_seconds",
    "From a job's creation (the commit of the change) to its success on the target.",
    ["target"],
    buckets=_CONVERGE_BUCKETS,
)
JOBS_FAILED = Counter(
    "idhub_jobs_failed_total",
    "Jobs that failed on their target and were queued again with a backoff.",
    ["target"],
)
JOBS_PARKED = Counter(
    "idhub_jobs_parked_total",
    "Jobs parked as failed: retrying cannot help, or they were abandoned too often.",
    ["target"],
)
TARGET_ERRORS = Counter(
    "idhub_target_errors_total",
    "Errors from a target, by kind (the connector's error class; TargetUnavailable: away).",
    ["target", "kind"],
)
SIGNINS = Counter(
    "idhub_signins_total",
    "Sign-in steps: ok (a session started), failed, locked (refused or now locked), "
    "throttled (too many failures from the address).",
    ["result"],
)
TOKENS = Counter(
    "idhub_tokens_issued_total",
    "Tokens issued at /oauth/token, by grant type.",
    ["grant_type"],
)
GRANT_TYPES = frozenset({"client_credentials", "authorization_code", "refresh_token"})
SIGNIN_RESULTS = ("ok", "failed", "locked", "throttled")


_HTTP_CHILDREN: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def request_answered(endpoint: str, method: str, status: str, seconds: float) -> None:
    """One request (every request: the children are kept, not looked up by `labels` each
    time; the keys are bounded — endpoints, methods, status classes)."""
    key = (endpoint, method, status)
    children = _HTTP_CHILDREN.get(key)
    if children is None:
        children = (HTTP_SECONDS.labels(endpoint, method), HTTP_REQUESTS.labels(*key))
        _HTTP_CHILDREN[key] = children
    children[0].observe(seconds)
    children[1].inc()


_PENDING = "idhub.metrics.pending"  # the counts a session's open transaction holds


def on_commit(session: Session, count: Callable[[], None]) -> None:
    """Run `count` once the session's transaction commits; nothing if it rolls back."""
    session.info.setdefault(_PENDING, []).append(count)


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    for count in session.info.pop(_PENDING, ()):
        count()


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


def signed_in(result: str, session: Session | None = None) -> None:
    """One sign-in step; with `session`, when what recorded it commits."""
    if session is None:
        SIGNINS.labels(result).inc()
    else:
        on_commit(session, SIGNINS.labels(result).inc)


def token_issued(grant_type: str) -> None:
    """One token; an unknown grant type counts as "other" (the label set stays bounded)."""
    TOKENS.labels(grant_type if grant_type in GRANT_TYPES else "other").inc()


def folder() -> Path | None:
    """The multiprocess folder this process writes to, if any."""
    path = os.environ.get(ENV)
    return Path(path) if path else None


def use_folder(path: Path, *, clean: bool) -> Path:
    """Count into `path` from now on (this process and the processes it starts). `clean`:
    remove what processes no longer running left there (a restart starts from zero; a
    live process's files are kept, so another `idhub worker` beside this one loses none)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if clean:
        for stale in path.iterdir():
            found = _FILE.match(stale.name)
            if found and not _alive(int(found.group(1))):
                stale.unlink(missing_ok=True)
    os.environ[ENV] = str(path)
    values.ValueClass = values.get_value_class()  # values made after this go to files
    return path


def default_folder(var_dir: Path) -> Path:
    """Where the hub's processes share their metrics: PROMETHEUS_MULTIPROC_DIR when the
    operator set it, else `<var_dir>/metrics`."""
    return folder() or var_dir / "metrics"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
