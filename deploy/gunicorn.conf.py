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
# gunicorn's error and access logs through the hub's formatter: the same JSON lines on
# stderr as the app's, [logging] format/level from the settings; access lines carry the
# method, path, status and duration, never the query string (it may hold a code).
from idhub.ops.gunicorn_conf import accesslog, errorlog, logconfig_dict  # noqa: E402, F401

loglevel = "info"
# A worker is replaced after this many requests (with jitter), bounding any slow leak.
max_requests = 5000
max_requests_jitter = 500
# The app reads its settings from IDHUB_CONFIG (see docs/deploy.md); nothing preloaded, so a
# worker that dies takes nothing shared with it.
preload_app = False
control_socket_disable = True
