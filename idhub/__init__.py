"""IDHub: the identity and access hub of a provincial government (the application shell).

`create_app` is loaded on first use, so that importing one module of the shell (a worker,
a command, the settings) does not build the whole web application's import tree."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from idhub.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from idhub.app import create_app

        return create_app
    raise AttributeError(f"module 'idhub' has no attribute {name!r}")
