"""Build the engine's pieces from settings (shared by the app, the CLI and the worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.ldap import LdapConfig, LdapConnector
from connectors.mail import MailConfig, MailConnector
from idhub.keyring import Keyring
from provisioning.rules import Rules, load_rules


def ldap_config(settings: dict[str, Any], keyring: Keyring) -> LdapConfig:
    ldap = settings["ldap"]
    return LdapConfig(
        url=ldap["url"],
        base_dn=ldap["base_dn"],
        bind_dn=ldap["bind_dn"],
        password=ldap["password"] or keyring.get("ldap_admin_password"),
        timeout_s=float(ldap["timeout_s"]),
    )


def ldap_connector(settings: dict[str, Any], keyring: Keyring) -> LdapConnector:
    return LdapConnector(ldap_config(settings, keyring))


def rules(settings: dict[str, Any]) -> Rules:
    return load_rules(settings["provisioning"]["rules_file"])


def mail_connector(settings: dict[str, Any]) -> MailConnector | None:
    """The mail target's connector when [mail] is enabled (paths default to the dev stack)."""
    mail = settings["mail"]
    if not mail["enabled"]:
        return None
    dev = Path(settings["dev_mail"]["dir"])
    return MailConnector(
        MailConfig(
            doveadm_config=mail["doveadm_config"] or str(dev / "dovecot" / "dovecot.conf"),
            mail_root=mail["mail_root"] or str(dev / "mail"),
            archive_dir=mail["archive_dir"],
            doveadm=mail["doveadm"],
            timeout_s=float(mail["timeout_s"]),
        )
    )


def then_targets(settings: dict[str, Any]) -> tuple[str, ...]:
    """Targets converged after the directory (their jobs are queued by its worker)."""
    return ("mail",) if settings["mail"]["enabled"] else ()
