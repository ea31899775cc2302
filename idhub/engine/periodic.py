"""Work the worker loop does on a clock, given to it from above (idhub/scheduler): the
engine knows when to run a task, not what the task is."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from idhub.changes.chain import Actor


@dataclass(frozen=True)
class Periodic:
    """Run `run(actor)` every `every_s` seconds (first at the loop's start); it returns
    how many subjects it queued, or None."""

    name: str
    every_s: float
    run: Callable[[Actor], int | None]


class Clock:
    """When each periodic task is due next."""

    def __init__(self, tasks: Sequence[Periodic]) -> None:
        self.tasks = tuple(tasks)
        self._next = [0.0] * len(self.tasks)

    def due(self) -> bool:
        now = time.monotonic()
        return any(now >= at for at in self._next)

    def run_due(self, actor: Actor, *, all_: bool = False) -> int:
        """Run the tasks that are due (every task with `all_`); the subjects they queued."""
        total = 0
        for i, task in enumerate(self.tasks):
            if all_ or time.monotonic() >= self._next[i]:
                total += task.run(actor) or 0
                self._next[i] = time.monotonic() + task.every_s
        return total
