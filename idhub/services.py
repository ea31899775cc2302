"""The hub's shared services, built once from settings and held by the app (or by a command's
runtime): the settings, keyring, database, audit log, rules, and the factory of connectors.

The shell asks the factory for a capability (the directory, the mailboxes), typed against the
protocols of `connectors.base`, never for a connector class; only this module builds them."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Protocol

from flask import Flask, current_app
from sqlalchemy import inspect, text

from connectors.base import (
    AppliesOperations,
    ChecksHealth,
    ManagesContainers,
    ManagesGroups,
    ManagesMailboxes,
    Named,
    ReadsManyAccounts,
    ScansAccounts,
)
from connectors.ldap import LdapConfig, LdapConnector
from connectors.mail import MAILBOX_ACCESS, MailConfig, MailConnector
from idhub.changes.chain import AuditLog
from idhub.config import ConfigError, DatabaseSettings, SecretsSettings, Settings
from idhub.db import Database
from idhub.keyring import Keyring
from idhub.models import sealed
from provisioning.rules import Rules, load_rules


# -- the settings read here ----------------------------------------------------------------
@dataclass(frozen=True)
class LdapSettings:
    SECTION: ClassVar[str] = "ldap"
    url: str
    base_dn: str
    bind_dn: str
    password: str  # empty: the dev slapd's generated hub password, from the keyring
    timeout_s: float
    start_tls: bool
    tls_ca_file: str
    tls_cert_file: str
    tls_key_file: str
    tls_required: bool


@dataclass(frozen=True)
class MailSettings:
    SECTION: ClassVar[str] = "mail"
    enabled: bool
    doveadm: str
    doveadm_config: str
    mail_root: str
    archive_dir: str
    timeout_s: float
    doveadm_api: bool
    doveadm_url: str
    doveadm_password: str = field(repr=False)  # never in a log line
    mailbox_access: str = "doveadm"
    doveadm_ca_file: str = ""

    def __post_init__(self) -> None:
        if self.mailbox_access not in MAILBOX_ACCESS:
            raise ConfigError(
                f"mail.mailbox_access must be one of {', '.join(MAILBOX_ACCESS)}, "
                f"not {self.mailbox_access!r}"
            )


@dataclass(frozen=True)
class DevMailSettings:
    """The development mail stack; its folder is where the mail target looks by default."""

    SECTION: ClassVar[str] = "dev_mail"
    enabled: bool
    dir: str
    hostname: str
    bind_dn: str
    smtp_port: int
    imap_port: int
    lmtp_port: int
    doveadm_port: int

    @property
    def folder(self) -> Path:
        """Where the dev mail stack lives (see dev_mail_folder)."""
        return dev_mail_folder(self.dir)


# Where the dev mail stack goes when the mail account cannot reach the configured folder.
DEV_MAIL_FALLBACK = Path("/var/lib/idhub-dev")


def reachable_by_others(path: Path) -> bool:
    """Whether every existing parent folder of `path` is searchable by other accounts."""
    return all(os.stat(p).st_mode & 0o001 for p in path.parents if p.exists())


def dev_mail_folder(configured: str | os.PathLike[str]) -> Path:
    """The dev mail stack's folder: `configured` when Dovecot's mail processes (the
    system account `mail`, never root) can reach it; else a folder of its own under
    /var/lib/idhub-dev named after `configured` (a clone in a 0700 home folder). The
    same path gives the same folder, so the hub's mail target finds the stack's."""
    path = Path(configured).resolve()
    if reachable_by_others(path):
        return path
    slug = hashlib.sha256(str(path).encode()).hexdigest()[:16]
    return DEV_MAIL_FALLBACK / f"mail-{slug}"


@dataclass(frozen=True)
class ProvisioningSettings:
    SECTION: ClassVar[str] = "provisioning"
    rules_file: str
    batch_size: int
    poll_interval_s: float
    lease_s: float
    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float
    guard_share: float
    guard_window_s: float
    guard_min_accounts: int


# -- what the shell asks of the targets ----------------------------------------------------
class Directory(
    Named,
    ChecksHealth,
    ReadsManyAccounts,
    ScansAccounts,
    AppliesOperations,
    ManagesContainers,
    ManagesGroups,
    Protocol,
):
    """The directory as the shell uses it: read, scan, apply, its containers and groups."""


class Mailboxes(Named, ManagesMailboxes, AppliesOperations, Protocol):
    """The mail server as the shell uses it: where a mailbox is, who may read it, apply."""


class Connectors:
    """Builds the connectors of the configured targets (a fresh one per caller: a connector
    holds one connection and is used by one thread at a time)."""

    def __init__(self, settings: Settings, keyring: Keyring) -> None:
        self.settings = settings
        self.keyring = keyring

    @cached_property
    def ldap_config(self) -> LdapConfig:
        ldap = self.settings.section(LdapSettings)
        return LdapConfig(
            url=ldap.url,
            base_dn=ldap.base_dn,
            bind_dn=ldap.bind_dn,
            password=ldap.password or self.keyring.get("ldap_hub_password"),
            timeout_s=ldap.timeout_s,
            start_tls=ldap.start_tls,
            tls_ca_file=ldap.tls_ca_file,
            tls_cert_file=ldap.tls_cert_file,
            tls_key_file=ldap.tls_key_file,
            tls_required=ldap.tls_required,
        )

    @property
    def base_dn(self) -> str:
        return self.settings.section(LdapSettings).base_dn

    def directory(self) -> Directory:
        return LdapConnector(self.ldap_config)

    @property
    def mail_enabled(self) -> bool:
        return self.settings.section(MailSettings).enabled

    def mailboxes(self) -> Mailboxes | None:
        """The mail target's connector when [mail] is enabled (paths default to the dev stack)."""
        mail = self.settings.section(MailSettings)
        if not mail.enabled:
            return None
        dev = self.settings.section(DevMailSettings)
        url = ""
        if mail.doveadm_api:  # the dev stack's API unless another is named
            url = mail.doveadm_url or f"https://127.0.0.1:{dev.doveadm_port}/doveadm/v1"
        # the dev stack's own CA when its API is the one used
        ca_file = mail.doveadm_ca_file or (
            "" if mail.doveadm_url else str(dev.folder / "tls" / "ca.pem")
        )
        return MailConnector(
            MailConfig(
                doveadm_config=mail.doveadm_config or str(dev.folder / "dovecot" / "dovecot.conf"),
                mail_root=mail.mail_root or str(dev.folder / "mail"),
                archive_dir=mail.archive_dir,
                doveadm=mail.doveadm,
                timeout_s=mail.timeout_s,
                doveadm_url=url,
                doveadm_password=(
                    (mail.doveadm_password or self.keyring.get("doveadm_password")) if url else ""
                ),
                mailbox_access=mail.mailbox_access,
                doveadm_ca_file=ca_file,
            )
        )

    def mailbox_used_bytes(self, username: str) -> int | None:
        """The size of the user's mailbox as Dovecot counts it; None when mail is off or
        Dovecot cannot say. Asked by the account's mailbox page and the console's person
        page."""
        connector = self.mailboxes()
        return None if connector is None else connector.used_bytes(username)

    def then_targets(self) -> tuple[str, ...]:
        """Targets converged after the directory (their jobs are queued by its worker)."""
        return ("mail",) if self.mail_enabled else ()


class Hub:
    """The services every wing shares, built on first use (so `idhub --help` needs neither a
    database nor secrets). The app holds one (`current_hub()`); a command's runtime is one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def keyring(self) -> Keyring:
        return Keyring(self.settings.section(SecretsSettings).dir, holds_data=self.holds_data)

    def holds_data(self, name: str = "") -> bool:
        """Does the database hold audit events or people (data the secrets seal or
        encrypt)? A database not migrated yet holds none; one that cannot be reached
        raises (we cannot tell, so no key is made). The personal data keys: does it hold
        people whose data is sealed (an older schema keeps it plain, and the migration
        that seals it needs the keys made)."""
        engine = self.db.engine
        with engine.connect() as conn:
            tables = inspect(conn)
            if name in ("personal_data_key", "personal_index_key"):
                if not tables.has_table("person") or "national_id_index" not in {
                    c["name"] for c in tables.get_columns("person")
                }:
                    return False
                return conn.execute(text("SELECT 1 FROM person LIMIT 1")).first() is not None
            for table in ("audit_event", "person"):
                if (
                    tables.has_table(table)
                    and conn.execute(
                        text(f"SELECT 1 FROM {table} LIMIT 1")  # noqa: S608 - fixed names
                    ).first()
                ):
                    return True
        return False

    @cached_property
    def db(self) -> Database:
        conf = self.settings.section(DatabaseSettings)
        db = Database(conf.url, pool_size=conf.pool_size, max_overflow=conf.max_overflow)
        sealed.attach(db.engine, self.personal_keys)
        return db

    def personal_keys(self) -> sealed.PersonalKeys:
        """The keys of the sealed personal data (asked when a person is first read or
        written, so a command that touches no one needs no keys)."""
        return sealed.PersonalKeys(
            self.keyring.get("personal_data_key"), self.keyring.get("personal_index_key")
        )

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.keyring.get("audit_chain_key"))

    @cached_property
    def rules(self) -> Rules:
        return load_rules(self.settings.section(ProvisioningSettings).rules_file)

    @cached_property
    def connectors(self) -> Connectors:
        return Connectors(self.settings, self.keyring)

    def init_app(self, app: Flask) -> None:
        app.extensions["idhub"] = self
        self.db.init_app(app)


def current_hub() -> Hub:
    """The hub of the application handling this request."""
    hub: Hub = current_app.extensions["idhub"]
    return hub
