"""A person's mail credentials entry: the hashes of their app passwords, for Dovecot.

    ou=mailauth,<base>                                   organizationalUnit (made once)
      cn=mailCredentialsPolicy,ou=mailauth,<base>        a password policy without lockout
      idhubPersonId=<person UUID>,ou=mailauth,<base>     idhubMailCredentials: uid,
                                                         idhubAccountStatus, userPassword × n

Dovecot binds to this entry first (its own passdb): slapd accepts any of its values.
Each entry names the no-lockout policy (pwdPolicySubentry): a wrong app password must
not lock it, and every login with the account password also fails here first (the
person's own entry keeps the province's policy and counts real guesses). slapd's
password policy takes one userPassword value per write operation, so the set is
brought in step value by value: first the values to go (one delete: a revoked password
stops at once), then each new value in its own add. No entry: nothing opens mail here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import ldap
import ldap.dn
import ldap.filter

from connectors.base import AccountKey, InvalidData
from connectors.ldap.connection import Conn, Connection

CONTAINER = "ou=mailauth"
POLICY = "cn=mailCredentialsPolicy"
OBJECT_CLASS = "idhubMailCredentials"
_ATTRS = ["uid", "idhubAccountStatus", "userPassword"]


def entry_dn(base_dn: str, key: AccountKey) -> str:
    return f"idhubPersonId={ldap.dn.escape_dn_chars(key.id)},{CONTAINER},{base_dn}"


def _ensure_container(conn: Conn, base_dn: str) -> None:
    container = f"{CONTAINER},{base_dn}"
    with contextlib.suppress(ldap.ALREADY_EXISTS):
        conn.add_s(
            container,
            [
                ("objectClass", [b"top", b"organizationalUnit"]),
                ("ou", [b"mailauth"]),
                ("description", [b"IDHub: app passwords of mail clients"]),
            ],
        )
    with contextlib.suppress(ldap.ALREADY_EXISTS):
        conn.add_s(
            f"{POLICY},{container}",
            [
                ("objectClass", [b"top", b"applicationProcess", b"pwdPolicy"]),
                ("cn", [b"mailCredentialsPolicy"]),
                ("pwdAttribute", [b"userPassword"]),
                ("pwdLockout", [b"FALSE"]),
                ("pwdMaxFailure", [b"0"]),
                ("pwdAllowUserChange", [b"FALSE"]),
                ("pwdCheckQuality", [b"0"]),
                ("pwdMustChange", [b"FALSE"]),
            ],
        )


def set_mail_credentials(
    connection: Connection,
    base_dn: str,
    key: AccountKey,
    *,
    uid: str | None,
    active: bool,
    values: Sequence[str],
) -> str | None:
    """Bring the entry of `key` to (uid, status, exactly `values`); remove it when there
    is nothing to accept (no values, no uid). Idempotent; returns the DN, or None when
    the entry is (now) absent."""
    for value in values:
        if not value.startswith("{") or "}" not in value[:16]:
            raise InvalidData(f"{connection.name}: a password hash must start with {{SCHEME}}")
    dn = entry_dn(base_dn, key)
    wanted = list(dict.fromkeys(v.encode("utf-8") for v in values))
    status = b"active" if active else b"disabled"

    def write(conn: Conn) -> str | None:
        try:
            found = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", _ATTRS)
        except ldap.NO_SUCH_OBJECT:
            found = []
        if not wanted or not uid:
            if found:
                conn.delete_s(dn)
            return None
        if not found:
            _ensure_container(conn, base_dn)
            conn.add_s(
                dn,
                [
                    ("objectClass", [b"top", OBJECT_CLASS.encode()]),
                    ("idhubPersonId", [key.id.encode()]),
                    ("uid", [uid.encode("utf-8")]),
                    ("idhubAccountStatus", [status]),
                    ("idhubManaged", [b"TRUE"]),
                    ("pwdPolicySubentry", [f"{POLICY},{CONTAINER},{base_dn}".encode()]),
                    ("userPassword", [wanted[0]]),
                ],
            )
            have: list[bytes] = [wanted[0]]
        else:
            attrs = {k.casefold(): v for k, v in found[0][1].items()}
            have = list(attrs.get("userpassword", []))
            mods = []
            if attrs.get("uid") != [uid.encode("utf-8")]:
                mods.append((ldap.MOD_REPLACE, "uid", [uid.encode("utf-8")]))
            if attrs.get("idhubaccountstatus") != [status]:
                mods.append((ldap.MOD_REPLACE, "idhubAccountStatus", [status]))
            if mods:
                conn.modify_s(dn, mods)
            gone = [v for v in have if v not in wanted]
            if gone:  # first: a revoked password must stop before anything is added
                conn.modify_s(dn, [(ldap.MOD_DELETE, "userPassword", gone)])
        for value in wanted:
            if value not in have:  # one value per write: slapd's password policy
                conn.modify_s(dn, [(ldap.MOD_ADD, "userPassword", [value])])
        return dn

    return connection.call(f"set the mail credentials of {key}", write)


__all__ = ["CONTAINER", "entry_dn", "set_mail_credentials"]
