"""A target being away, as one worker sees it.

The jobs are not the problem when the target is away, so they get no backoff of their own
(engine/jobs.py `hand_back`): the worker stops claiming for the target and probes it
instead, with one backoff (the connector's health check, PROBE_FIRST_S doubling up to
PROBE_MAX_S, so its return is noticed within 0.2 s however long it was gone: a
refused connection costs nothing; settings the target refuses wait for an admin, so they
are probed less often). Once the probe answers, the jobs that waited are claimed at once,
at full speed. An outage logs one
warning when it starts and one summary when a round succeeds again, not one per round.

Each worker keeps its own: several workers (PostgreSQL, several machines) each lose at
most one round to an outage before they wait, and each notices the return by itself.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from connectors.base import ChecksHealth, TargetMisconfigured

__all__ = ["PROBE_FIRST_S", "PROBE_MAX_MISCONFIGURED_S", "PROBE_MAX_S", "Outage", "OutageWatch"]

log = logging.getLogger("idhub.engine.worker")  # the worker's log: one place to look
PROBE_FIRST_S = 0.05
PROBE_MAX_S = 0.2  # 0.5 s was up to 0.5 s of a 0.65 s tail (bench/outage.py)
PROBE_MAX_MISCONFIGURED_S = 10.0


@dataclass
class Outage:
    """One stretch of the target being away."""

    started: float  # monotonic
    error: str
    delay: float = PROBE_FIRST_S
    cap: float = PROBE_MAX_S
    next_probe: float = 0.0
    rounds: int = 0  # rounds handed back
    jobs: int = 0  # jobs in them
    back: bool = False  # the probe answered; the next round decides
    waiting: int = 0  # jobs waiting when the probe answered


class OutageWatch:
    """Whether the worker may claim for its target, and the probe that decides it."""

    def __init__(self, system: str, connector: object, waiting: Callable[[], int]) -> None:
        self.system = system
        self._connector = connector
        self._waiting = waiting  # the target's queued jobs, counted for the summary
        self.current: Outage | None = None

    @property
    def away(self) -> bool:
        """Known away and not yet answering its probe: claim nothing for it."""
        return self.current is not None and not self.current.back

    def failed(self, jobs: int, error: Exception) -> None:
        """A round was handed back because the target was away."""
        now = time.monotonic()
        outage = self.current
        if outage is None:
            outage = self.current = Outage(started=now, error=str(error))
            if isinstance(error, TargetMisconfigured):
                outage.cap = PROBE_MAX_MISCONFIGURED_S
            log.warning(
                "%s unavailable; claiming nothing for it until it answers again "
                "(probed every %.1f s at most): %s",
                self.system,
                outage.cap,
                error,
            )
        else:
            log.debug("%s still unavailable: %s", self.system, error)
            if outage.back:  # it answered the probe but not the round: keep probing
                outage.back = False
                outage.delay = min(outage.cap, outage.delay * 2)
        outage.rounds += 1
        outage.jobs += jobs
        outage.next_probe = now + outage.delay

    def seconds_to_probe(self) -> float:
        outage = self.current
        return 0.0 if outage is None else max(0.0, outage.next_probe - time.monotonic())

    def probe(self) -> bool:
        """Ask the target whether it is back (its health check); True when it is. A
        connector without a health check is taken as back: the next round tells."""
        outage = self.current
        if outage is None or outage.back:
            return True
        ok = True
        if isinstance(self._connector, ChecksHealth):
            health = self._connector.check()
            ok = health.ok
            if not ok:
                outage.error = health.detail
        if ok:
            outage.back = True
            try:
                outage.waiting = self._waiting()
            except SQLAlchemyError:  # the database is away too: the summary says less
                outage.waiting = -1
            return True
        # One backoff for the target, with a little jitter so workers do not probe in step.
        outage.delay = min(outage.cap, outage.delay * 2)
        outage.next_probe = time.monotonic() + outage.delay * random.uniform(0.8, 1.0)
        return False

    def succeeded(self) -> None:
        """A round went through (or nothing was left to do): the outage, if any, is over."""
        outage, self.current = self.current, None
        if outage is None:
            return
        log.info(
            "%s back after %.1f s; %d jobs waited for it and run now "
            "(%d jobs in %d rounds were handed back meanwhile)",
            self.system,
            time.monotonic() - outage.started,
            outage.waiting,
            outage.jobs,
            outage.rounds,
            extra={
                "outage_s": round(time.monotonic() - outage.started, 3),
                "jobs_waiting": outage.waiting,
            },
        )
