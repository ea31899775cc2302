"""gunicorn settings for running gunicorn yourself (`gunicorn -c deploy/gunicorn.conf.py
idhub.wsgi:app`). The packaged settings (idhub/ops/gunicorn_conf.py: JSON logs, timeouts,
worker recycling) are what `idhub serve` uses too, and what deploy/systemd/idhub-web.service
runs; this file adds the address and the worker count from the environment."""

import multiprocessing
import os

from idhub.ops.gunicorn_conf import *  # noqa: F403

# Behind the reverse proxy (deploy/nginx/idhub.conf) on loopback; set [server]
# trusted_proxies to the proxy's address so X-Forwarded-For counts.
bind = os.environ.get("IDHUB_BIND", "127.0.0.1:8080")
# Sign-in hashes passwords with argon2 (64 MiB, about 50 ms of one core): a worker per core.
workers = int(os.environ.get("IDHUB_WEB_WORKERS", multiprocessing.cpu_count()))
