"""IDHub: the identity and access hub of a provincial government (the application shell)."""

from idhub.app import create_app

__all__ = ["create_app"]
