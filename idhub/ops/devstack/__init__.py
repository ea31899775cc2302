"""Throwaway real servers (slapd; later Postfix and Dovecot) for tests and `make run`.

Everything runs as a child process on 127.0.0.1 high ports with its state in one folder,
never the system-wide instances.
"""

from idhub.ops.devstack.ports import free_port
from idhub.ops.devstack.slapd import Slapd, SlapdError

__all__ = ["Slapd", "SlapdError", "free_port"]
