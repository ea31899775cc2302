"""What every `idhub` command shares: settings, the database, secrets, the engine's pieces.

Kept apart from cli.py so feature areas (e.g. reorg/commands.py) can define their own
commands without importing the command tree itself.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import click

from idhub.changes.chain import Actor, AuditLog
from idhub.db import Database
from idhub.errors import DomainError
from idhub.keyring import Keyring


@dataclass
class Runtime:
    """What commands share, built lazily so `--help` needs no database or secrets."""

    settings: dict[str, Any]

    @cached_property
    def keyring(self) -> Keyring:
        return Keyring(self.settings["secrets"]["dir"])

    @cached_property
    def db(self) -> Database:
        return Database(self.settings["database"]["url"])

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.keyring.get("audit_chain_key"))

    @property
    def actor(self) -> Actor:
        return Actor(type="cli", id=getpass.getuser())

    @cached_property
    def rules(self):  # type: ignore[no-untyped-def]
        from idhub import services as runtime

        return runtime.rules(self.settings)

    def connector(self):  # type: ignore[no-untyped-def]
        from idhub import services as runtime

        return runtime.ldap_connector(self.settings, self.keyring)

    @property
    def base_dn(self) -> str:
        return self.settings["ldap"]["base_dn"]

    @cached_property
    def guard(self):  # type: ignore[no-untyped-def]
        from idhub.changes.guard import Guard

        return Guard.from_settings(self.settings["provisioning"])


pass_runtime = click.make_pass_decorator(Runtime)


def fail(exc: DomainError) -> None:
    raise click.ClickException(f"{exc.message} [{exc.code}]")
