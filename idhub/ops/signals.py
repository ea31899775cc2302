"""SIGTERM / SIGINT as a `threading.Event`, set from a thread of its own.

A Python signal handler runs in the main thread between two bytecodes, possibly while
that thread holds the Event's own lock (inside `stop.wait()`); calling `stop.set()`
there waits for that lock forever. A worker was seen hanging so after SIGTERM. Here the C
handler only writes the signal number to a socket (`signal.set_wakeup_fd`), the Python
handler does nothing, and a watcher thread reads the socket and sets the event.
"""

from __future__ import annotations

import signal
import socket
import threading

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_on_signals(stop: threading.Event) -> None:
    """Set `stop` when the process gets SIGTERM or SIGINT. Main thread only."""
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda *_: None)
    # The thread holds both sockets for the life of the process (the wakeup fd is `writer`).
    threading.Thread(
        target=_watch, args=(reader, writer, stop), name="idhub-signals", daemon=True
    ).start()


def _watch(reader: socket.socket, _writer: socket.socket, stop: threading.Event) -> None:
    wanted = {int(sig) for sig in STOP_SIGNALS}
    while data := reader.recv(64):
        if wanted & set(data):
            stop.set()
