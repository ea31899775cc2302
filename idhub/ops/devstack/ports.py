"""Free TCP ports on loopback for the throwaway servers."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port the kernel says is free on `host` right now.

    The port is released before it is returned, so another process could take it in
    between; callers that start a server on it should expect that rare race.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
