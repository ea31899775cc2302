"""Fixtures of the LDAP connector's tests: one slapd shared by tests/connectors."""

from tests.fixtures.ldap_connector import admin, connector, server, unit  # noqa: F401
