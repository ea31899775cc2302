"""gunicorn settings that travel with the package: `idhub serve` loads them
(`--config python:idhub.ops.gunicorn_conf`, with --bind and --workers from [server]) and
deploy/gunicorn.conf.py imports them for those who run gunicorn themselves.

gunicorn's own error and access logs become the hub's JSON lines ([logging] format and
level): one stream on stderr for journald, access lines without query strings."""

from idhub.config import load_settings
from idhub.logs import gunicorn_logconfig

_logging = load_settings()["logging"]
logconfig_dict = gunicorn_logconfig(_logging["format"], _logging["level"])
# The access line goes through logconfig_dict (logger gunicorn.access), not to a file.
accesslog = None
errorlog = "-"
loglevel = "info"
worker_class = "sync"
# Sign-in hashes passwords with argon2 (64 MiB, about 50 ms of one core): [server]
# workers = one per core.
timeout = 30
graceful_timeout = 10
keepalive = 5
# A worker is replaced after this many requests (with jitter), bounding any slow leak.
max_requests = 5000
max_requests_jitter = 500
# Nothing preloaded, so a worker that dies takes nothing shared with it.
preload_app = False
control_socket_disable = True
# The hooks: the metrics' multiprocess folder (made and set by the master before it forks,
# docs/metrics.md), and a dead worker's live gauges removed.
from idhub.ops.gunicorn_hooks import child_exit, on_starting  # noqa: E402, F401
