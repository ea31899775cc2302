"""WSGI entry point for gunicorn: `gunicorn idhub.wsgi:app`."""

from idhub.app import create_app
from idhub.ops.gc import settle_after_startup

app = create_app()
settle_after_startup()  # each gunicorn worker imports this module once, after its fork
