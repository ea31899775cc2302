"""`GET /metrics`: the hub's metrics in Prometheus' text format, for a bearer token with
the `metrics` (or `admin`) scope.

The counters and histograms (idhub/metrics.py) are summed over every process writing to
the multiprocess folder (gunicorn's workers, `idhub worker`); the queue's gauges are read
from the database now, per target: jobs by state and the age of the oldest one still to
do (a few indexed reads, engine/jobs.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from idhub.changes.outbox import EVENTS_TARGET, TARGETS
from idhub.db import Database
from idhub.engine.jobs import oldest_waiting, queue_counts
from idhub.engine.targets.mail import MAIL_TARGET
from idhub.metrics import folder
from idhub.models import utcnow
from idhub.oidc.backchannel import BACKCHANNEL_TARGET
from idhub.services import current_hub
from idhub.web.bearer import require_oauth

bp = Blueprint("metrics", __name__)
SCOPES = ["metrics", "admin"]  # either one
# The text format every Prometheus reads (2.x and 3.x; the names need no escaping).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Always shown, at 0 when idle, so a dashboard's series do not come and go.
KNOWN_TARGETS = (*TARGETS, MAIL_TARGET, BACKCHANNEL_TARGET, EVENTS_TARGET)
STATES = ("pending", "running", "held", "failed")


class QueueCollector(Collector):
    """The provisioning queue as the database holds it at the scrape."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            "idhub_queue_jobs",
            "Jobs in the provisioning queue by target and state (failed: parked).",
            labels=["target", "state"],
        )
        depth = GaugeMetricFamily(
            "idhub_queue_depth",
            "Jobs still to do per target (pending and running).",
            labels=["target"],
        )
        oldest = GaugeMetricFamily(
            "idhub_queue_oldest_job_age_seconds",
            "Age of the oldest job still to do (pending, running or held) per target; 0 if none.",
            labels=["target"],
        )
        now = utcnow()
        with self.db.reading() as session:
            counts = queue_counts(session)
            targets = sorted({*KNOWN_TARGETS, *(target for target, _ in counts)})
            for target in targets:
                for state in STATES:
                    jobs.add_metric([target, state], counts.get((target, state), 0))
                todo = counts.get((target, "pending"), 0) + counts.get((target, "running"), 0)
                depth.add_metric([target], todo)
                waiting = todo + counts.get((target, "held"), 0)
                since = oldest_waiting(session, target) if waiting else None
                oldest.add_metric([target], (now - since).total_seconds() if since else 0.0)
        yield from (jobs, depth, oldest)


def _counted() -> CollectorRegistry:
    """Every process's counters (multiprocess folder), or this process's alone."""
    path = folder()
    if path is None:
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return registry


@bp.get("/metrics")
@require_oauth(SCOPES)
def metrics() -> Response:
    queue = CollectorRegistry()
    queue.register(QueueCollector(current_hub().db))
    body = generate_latest(_counted()) + generate_latest(queue)
    return Response(body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
