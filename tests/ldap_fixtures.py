"""Real-slapd fixtures. Wire them in with, in tests/conftest.py:

    from tests.ldap_fixtures import slapd_server  # noqa: F401

Tests that stop, kill or restart a server start their own `make_slapd(tmp_path)` instead
of touching the shared session one.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.ldap import LdapConfig, LdapConnector
from idhub.ops.devstack.slapd import Slapd

BASE_DN = "dc=idhub,dc=gov,dc=vn"
ADMIN_DN = f"cn=admin,{BASE_DN}"
# One random password per test session: tests check that it never leaks into messages.
ADMIN_PASSWORD = "pw-" + secrets.token_urlsafe(18)


def make_slapd(directory: Path, *, port: int | None = None) -> Slapd:
    """A (not yet started) throwaway slapd with the test base DN and admin."""
    return Slapd(
        directory,
        base_dn=BASE_DN,
        admin_dn=ADMIN_DN,
        admin_password=ADMIN_PASSWORD,
        port=port,
    )


def connector_for(
    server: Slapd, *, password: str = ADMIN_PASSWORD, timeout_s: float = 3.0
) -> LdapConnector:
    """An LdapConnector bound as the admin of `server`."""
    return LdapConnector(
        LdapConfig(
            url=server.url,
            base_dn=server.base_dn,
            bind_dn=server.admin_dn,
            password=password,
            timeout_s=timeout_s,
        )
    )


@pytest.fixture(scope="session")
def slapd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    """One running slapd for the whole session (about 0.3 s to start)."""
    with make_slapd(tmp_path_factory.mktemp("slapd")) as server:
        yield server
