"""gunicorn's hooks for the hub (`idhub serve` loads this module as its config,
`python:idhub.ops.gunicorn_hooks`; deploy/gunicorn.conf.py takes the same hooks).

* `on_starting` (the master, before any worker): the metrics' multiprocess folder is made,
  what dead processes left there is removed, and PROMETHEUS_MULTIPROC_DIR is set, so every
  worker forked from now on writes its counters there (idhub/metrics.py).
* `child_exit`: a worker that ended takes its live gauges with it (prometheus_client's
  `mark_process_dead`); its counters stay, so totals do not drop when gunicorn replaces one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from idhub.config import load_settings
from idhub.metrics import default_folder, use_folder


def on_starting(_server: Any) -> None:
    use_folder(default_folder(Path(load_settings()["var_dir"])), clean=True)


def child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
