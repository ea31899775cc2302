"""A person's mail-credentials entry (app passwords) against a real slapd: several
{SSHA512} values written despite ppolicy's one-value-per-write rule, any of them opens a
bind, none locks the entry, such a bind reads nothing, revoked and disabled refused."""

from __future__ import annotations

import ldap
import pytest

from connectors.base import AccountKey, InvalidData
from connectors.ldap import LdapConnector
from connectors.ldap.mail_credentials import entry_dn
from idhub.account.app_passwords import directory_hashes, new_app_password
from idhub.ops.devstack.slapd import Slapd
from tests.fixtures.ldap import BASE_DN
from tests.fixtures.ldap_connector import NASTY_UID, uniq


def binds(server: Slapd, dn: str, password: str) -> bool:
    conn = ldap.initialize(server.url)
    try:
        conn.simple_bind_s(dn, password)
        return True
    except ldap.INVALID_CREDENTIALS:
        return False
    finally:
        conn.unbind_s()


def test_app_passwords_in_the_mail_credentials_entry(connector: LdapConnector, server: Slapd):
    key = AccountKey(uniq('a,b+c="d"#'))  # escaped in the DN
    phone, laptop, tablet = (new_app_password() for _ in range(3))
    values = [*directory_hashes(phone), *directory_hashes(laptop), *directory_hashes(tablet)]
    dn = connector.set_mail_credentials(key, uid=NASTY_UID, active=True, values=values)
    assert dn == entry_dn(BASE_DN, key)
    assert connector.set_mail_credentials(key, uid=NASTY_UID, active=True, values=values) == dn
    for secret in (phone, laptop.replace(" ", ""), tablet):
        assert binds(server, dn, secret)

    for _ in range(server.max_failures + 2):  # no lockout on this entry
        assert not binds(server, dn, "sai mật khẩu")
    assert binds(server, dn, phone)

    conn = ldap.initialize(server.url)  # bound as the entry: reads nothing
    conn.simple_bind_s(dn, phone)
    with pytest.raises(ldap.NO_SUCH_OBJECT):  # not even the base is disclosed
        conn.search_s(BASE_DN, ldap.SCOPE_SUBTREE, "(objectClass=*)", ["uid"])
    conn.unbind_s()

    keep = [*directory_hashes(laptop), *directory_hashes(tablet)]  # the phone is revoked
    connector.set_mail_credentials(key, uid=NASTY_UID, active=True, values=keep)
    assert not binds(server, dn, phone)
    assert binds(server, dn, laptop)

    connector.set_mail_credentials(key, uid=NASTY_UID, active=False, values=keep)
    assert not binds(server, dn, laptop)  # a disabled account's passwords open nothing

    assert connector.set_mail_credentials(key, uid=NASTY_UID, active=True, values=[]) is None
    assert not binds(server, dn, laptop)
    with pytest.raises(InvalidData):
        connector.set_mail_credentials(key, uid="x", active=True, values=["no scheme"])
