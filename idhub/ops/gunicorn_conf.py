"""gunicorn settings that travel with the package: `idhub serve` loads them
(`--config python:idhub.ops.gunicorn_conf`) and deploy/gunicorn.conf.py imports them.
gunicorn's own error and access logs become the hub's JSON lines ([logging] format/level)."""

from idhub.config import load_settings
from idhub.logs import gunicorn_logconfig

_logging = load_settings()["logging"]
logconfig_dict = gunicorn_logconfig(_logging["format"], _logging["level"])
# The access line is written through logconfig_dict (gunicorn.access), not to a file.
accesslog = None
errorlog = "-"
