"""TLS to the directory: a slapd that accepts TLS only (LDAPS, or StartTLS required, or a
client certificate demanded), with a throwaway CA made in the test (tests/fixtures/tls.py).
The hub's account binds and writes over it; a wrong CA, no TLS or no client
certificate gets nothing, and the password never shows in a message."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import ldap
import pytest

from connectors.base import AccountKey, TargetMisconfigured, TargetUnavailable
from connectors.ldap import LdapConfig, LdapConnector
from idhub.ops.devstack.slapd import Slapd, TlsFiles
from tests.fixtures.ldap import (
    ADMIN_PASSWORD,
    BASE_DN,
    HUB_PASSWORD,
    READER_PASSWORD,
)
from tests.fixtures.tls import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def tls_slapd(folder: Path, pki: Pki, mode: str, *, verify_client: bool = False) -> Slapd:
    return Slapd(
        folder,
        base_dn=BASE_DN,
        admin_dn=f"cn=admin,{BASE_DN}",
        admin_password=ADMIN_PASSWORD,
        hub_password=HUB_PASSWORD,
        reader_password=READER_PASSWORD,
        tls=TlsFiles(pki.server_cert, pki.server_key, pki.ca_file, mode, verify_client),
    )


@pytest.fixture(scope="module")
def ldaps(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Slapd]:
    with tls_slapd(tmp_path_factory.mktemp("ldaps"), pki, "ldaps") as server:
        yield server


@pytest.fixture(scope="module")
def starttls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Slapd]:
    with tls_slapd(tmp_path_factory.mktemp("starttls"), pki, "starttls") as server:
        yield server


def hub_config(server: Slapd, **tls: object) -> LdapConfig:
    return LdapConfig(
        url=server.url,
        base_dn=server.base_dn,
        bind_dn=server.hub_dn,
        password=HUB_PASSWORD,
        timeout_s=2.0,
        **tls,  # type: ignore[arg-type]
    )


def writes(config: LdapConfig) -> None:
    """The hub's account checks the directory and writes a password hash over TLS."""
    connector = LdapConnector(config)
    try:
        health = connector.check()
        assert health.ok, health.detail
        assert connector.read(AccountKey("nobody-here")) is None
    finally:
        connector.close()


def refused(config: LdapConfig) -> str:
    connector = LdapConnector(config)
    try:
        health = connector.check()
        assert not health.ok
        assert HUB_PASSWORD not in health.detail
        return health.detail
    finally:
        connector.close()


def test_ldaps_with_the_ca_file(ldaps: Slapd, pki: Pki) -> None:
    assert ldaps.url.startswith("ldaps://")
    writes(hub_config(ldaps, tls_ca_file=str(pki.ca_file), tls_required=True))


def test_ldaps_refuses_a_certificate_from_another_ca(ldaps: Slapd, pki: Pki) -> None:
    refused(hub_config(ldaps, tls_ca_file=str(pki.other_ca_file)))
    with pytest.raises(TargetUnavailable):
        LdapConnector(hub_config(ldaps, tls_ca_file=str(pki.other_ca_file))).read(AccountKey("x"))


def test_plain_ldap_to_the_ldaps_port_gets_nothing(ldaps: Slapd) -> None:
    plain = dataclasses.replace(hub_config(ldaps), url=ldaps.url.replace("ldaps://", "ldap://"))
    refused(plain)


def test_starttls_with_the_ca_file(starttls: Slapd, pki: Pki) -> None:
    assert starttls.url.startswith("ldap://")
    writes(hub_config(starttls, start_tls=True, tls_ca_file=str(pki.ca_file)))


def test_a_bind_without_starttls_is_refused_by_the_server(starttls: Slapd) -> None:
    detail = refused(hub_config(starttls))
    assert "Confidentiality required" in detail
    with pytest.raises(TargetMisconfigured):
        LdapConnector(hub_config(starttls)).read(AccountKey("x"))


def test_tls_required_refuses_a_plain_url_before_sending_the_password(starttls: Slapd) -> None:
    with pytest.raises(TargetMisconfigured, match="not encrypted"):
        LdapConnector(hub_config(starttls, tls_required=True)).read(AccountKey("x"))


def test_a_client_certificate_when_the_server_demands_one(tmp_path: Path, pki: Pki) -> None:
    with tls_slapd(tmp_path, pki, "ldaps", verify_client=True) as server:
        writes(
            hub_config(
                server,
                tls_ca_file=str(pki.ca_file),
                tls_cert_file=str(pki.client_cert),
                tls_key_file=str(pki.client_key),
            )
        )
        refused(hub_config(server, tls_ca_file=str(pki.ca_file)))


def test_the_servers_admin_connection_speaks_tls_too(ldaps: Slapd) -> None:
    conn = ldaps.connect()
    try:
        assert conn.whoami_s() == f"dn:cn=admin,{BASE_DN}"
        assert conn.get_option(ldap.OPT_X_TLS_REQUIRE_CERT) == ldap.OPT_X_TLS_DEMAND
    finally:
        conn.unbind_s()


def test_postfix_and_dovecot_read_a_tls_only_directory(tmp_path: Path, mail_tmp: Path) -> None:
    """The mail stack's maps bind read-only over StartTLS, checking the server's
    certificate (the CA where the postfix and dovecot accounts can read it)."""
    from idhub.ops.devstack.mail import LdapSource, MailStack
    from tests.fixtures.mail import send_mail, wait_for_subject
    from tests.ops.test_mail_stack import PASSWORD, add_person

    mail_tmp.chmod(0o711)  # the postfix and dovecot accounts reach the CA file
    pki = make_pki(mail_tmp / "pki")
    (mail_tmp / "pki").chmod(0o711)
    pki.ca_file.chmod(0o644)
    with tls_slapd(tmp_path / "slapd", pki, "starttls") as server:
        add_person(server, BASE_DN, "annv", mail="annv@laichau.gov.vn")
        source = LdapSource(
            server.url, BASE_DN, server.reader_dn, READER_PASSWORD,
            start_tls=True, ca_file=str(pki.ca_file),
        )  # fmt: skip
        stack = MailStack(mail_tmp / "stack", source, auth_failure_delay_s=0, auth_penalty=False)
        try:
            with stack:
                send_mail(stack, "annv@laichau.gov.vn", "Thư qua TLS")
                wait_for_subject(stack, "annv", PASSWORD, "Thư qua TLS")
            assert not stack.relocated
            assert "start_tls = yes" in (stack.postfix_dir / "ldap-mailboxes.cf").read_text()
        finally:
            stack.remove()
