"""The capability protocols of connectors.base: each connector offers the ones the
shell will type against (mypy proves the signatures in the connectors' modules; this
checks the runtime view)."""

from __future__ import annotations

from connectors.base import (
    AppliesOperations,
    ChecksHealth,
    Connector,
    ManagesContainers,
    ManagesGroups,
    ManagesMailboxes,
    Named,
    ReadsAccounts,
    ReadsManyAccounts,
    ScansAccounts,
    SetsPasswords,
)
from connectors.ldap import LdapConfig, LdapConnector
from connectors.mail import MailConfig, MailConnector

COMMON = (Named, ChecksHealth, ReadsAccounts, ScansAccounts, AppliesOperations)


def test_the_ldap_connector_offers_its_capabilities() -> None:
    ldap_connector = LdapConnector(LdapConfig("ldap://127.0.0.1:1", "dc=x", "cn=a,dc=x", "pw"))
    for protocol in (
        *COMMON,
        ReadsManyAccounts,
        ManagesContainers,
        ManagesGroups,
        SetsPasswords,
    ):
        assert isinstance(ldap_connector, protocol), protocol
    assert not isinstance(ldap_connector, ManagesMailboxes)
    typed: Connector = ldap_connector
    assert typed.name == "ldap"


def test_the_mail_connector_offers_its_capabilities() -> None:
    mail = MailConnector(MailConfig("/nonexistent/dovecot.conf", "/nonexistent", "/nonexistent"))
    for protocol in (*COMMON, ManagesMailboxes):
        assert isinstance(mail, protocol), protocol
    for protocol in (ReadsManyAccounts, ManagesContainers, ManagesGroups, SetsPasswords):
        assert not isinstance(mail, protocol), protocol
