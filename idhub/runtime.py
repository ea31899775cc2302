"""What every `idhub` command shares: the hub's services and the person at the terminal.

Kept apart from cli.py so each wing's `commands.py` can define its commands without
importing the command tree itself.
"""

from __future__ import annotations

import getpass
from functools import cached_property

import click

from idhub.changes.chain import Actor
from idhub.changes.guard import Guard
from idhub.errors import DomainError
from idhub.services import Directory, Hub, ProvisioningSettings


class Runtime(Hub):
    """The hub's services for a command, built lazily so `--help` needs no database or
    secrets."""

    @property
    def actor(self) -> Actor:
        return Actor(type="cli", id=getpass.getuser())

    def connector(self) -> Directory:
        return self.connectors.directory()

    @property
    def base_dn(self) -> str:
        return self.connectors.base_dn

    @cached_property
    def guard(self) -> Guard:
        return Guard.from_settings(self.settings.section(ProvisioningSettings))


pass_runtime = click.make_pass_decorator(Runtime)


def fail(exc: DomainError) -> None:
    raise click.ClickException(f"{exc.message} [{exc.code}]")
