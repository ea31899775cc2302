"""gunicorn settings for IDHub in production (`gunicorn -c deploy/gunicorn.conf.py idhub.wsgi:app`,
as deploy/systemd/idhub-web.service does). `idhub serve` starts the same server with the
[server] settings instead. Values come from the environment so one file serves every node."""

import multiprocessing
import os

# Behind the reverse proxy (deploy/nginx/idhub.conf) on loopback; set [server]
# trusted_proxies to the proxy's address so X-Forwarded-For counts.
bind = os.environ.get("IDHUB_BIND", "127.0.0.1:8080")
# Sign-in hashes passwords with argon2 (64 MiB, about 50 ms of one core): a worker per core.
workers = int(os.environ.get("IDHUB_WEB_WORKERS", multiprocessing.cpu_count()))
worker_class = "sync"
timeout = 30
graceful_timeout = 10
keepalive = 5
# Requests are logged by the app itself (JSON lines, no query strings: they may hold codes).
accesslog = None
errorlog = "-"
loglevel = "info"
# A worker is replaced after this many requests (with jitter), bounding any slow leak.
max_requests = 5000
max_requests_jitter = 500
# The app reads its settings from IDHUB_CONFIG (see docs/deploy.md); nothing preloaded, so a
# worker that dies takes nothing shared with it.
preload_app = False
control_socket_disable = True
# /metrics sums the counters of every worker (and of `idhub worker` on this machine) from
# PROMETHEUS_MULTIPROC_DIR (default <var_dir>/metrics), which the master makes and sets
# before forking; a dead worker's live gauges are removed (docs/metrics.md).
from idhub.ops.gunicorn_hooks import child_exit, on_starting  # noqa: E402, F401
