"""WSGI entry point for gunicorn: `gunicorn idhub.wsgi:app`."""

from .app import create_app

app = create_app()
