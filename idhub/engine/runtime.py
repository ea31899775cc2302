"""Build the engine's pieces from settings (shared by the app, the CLI and the worker)."""

from __future__ import annotations

from typing import Any

from connectors.ldap import LdapConfig, LdapConnector
from provisioning.rules import Rules, load_rules

from ..keyring import Keyring


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
