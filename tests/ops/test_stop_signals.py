"""SIGTERM stops a worker even when it arrives while the stop event's lock is held."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import os, signal, threading, time
from idhub.ops.signals import stop_on_signals
stop = threading.Event()
stop_on_signals(stop)
with stop._cond:  # where `stop.wait()` holds it: a handler calling stop.set() deadlocks here
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.2)  # the Python-level handler has run by now
print("stopped" if stop.wait(10) else "not stopped")
"""


def test_a_signal_while_the_event_lock_is_held_still_stops():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"
