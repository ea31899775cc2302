"""idhub/defaults/ldap/*.ldif (for a province's existing OpenLDAP, cn=config) are what the dev
slapd's template says: regenerated here and compared, so the two never drift."""

from __future__ import annotations

import secrets
import subprocess
import time
from pathlib import Path

import ldap
import pytest

from idhub.ops.devstack.ldif import render
from idhub.ops.devstack.ports import free_port
from idhub.ops.devstack.slapd import CONFIG_DIR


def test_the_committed_ldif_matches_the_slapd_template() -> None:
    for name, text in render().items():
        committed = (CONFIG_DIR / name).read_text()
        assert committed == text, (
            f"idhub/defaults/ldap/{name} is stale: run `python -m idhub.ops.devstack.ldif`"
        )


def test_the_ldif_grants_the_hub_write_and_the_mail_maps_read_only() -> None:
    acl = render("dc=tinh,dc=gov,dc=vn")["idhub-acl.ldif"].replace("\n ", "")
    assert 'to *  by dn.base="cn=idhub-hub,dc=tinh,dc=gov,dc=vn" write' in acl
    assert 'olcLimits: {1}dn.base="cn=idhub-mail,dc=tinh,dc=gov,dc=vn" size=unlimited' in acl
    assert "cn=admin" not in acl  # the rootdn is nobody's bind


# ------------------------------------------------------------------ an existing OpenLDAP

_BASE_CONF = """modulepath /usr/lib/ldap
moduleload back_mdb
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {folder}/slapd.pid
database config
rootdn "cn=admin,cn=config"
rootpw {password}
database mdb
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
rootpw {password}
directory "{folder}/data"
"""


def _ldapmodify(url: str, dn: str, password: str, path: Path, *, add: bool) -> None:
    done = subprocess.run(
        ["ldapmodify", "-x", "-H", url, "-D", dn, "-w", password, "-f", str(path)]
        + (["-a"] if add else []),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"{path.name}: {done.stderr}"


def test_the_ldif_configures_a_stock_cn_config_slapd(tmp_path: Path) -> None:
    """A Debian-like slapd (cn=config, one mdb database, the stock schemas) takes the
    LDIF of docs/deploy.md step 1; the hub's account then writes, the mail account reads
    only, and the default policy locks people."""
    suffix = "dc=tinh,dc=gov,dc=vn"
    password = "cau-hinh-" + secrets.token_hex(8)
    (tmp_path / "data").mkdir()
    (tmp_path / "slapd.conf").write_text(
        _BASE_CONF.format(folder=tmp_path, suffix=suffix, password=password)
    )
    (tmp_path / "slapd.d").mkdir()
    subprocess.run(  # converts, then may fail opening the empty database: not our matter
        ["/usr/sbin/slaptest", "-f", str(tmp_path / "slapd.conf"), "-F", str(tmp_path / "slapd.d")],
        capture_output=True,
        check=False,
        timeout=30,
    )
    assert (tmp_path / "slapd.d" / "cn=config.ldif").exists()
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    proc = subprocess.Popen(
        ["/usr/sbin/slapd", "-F", str(tmp_path / "slapd.d"), "-h", url + "/", "-d", "none"],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "slapd.log").open("wb"),
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                ldap.initialize(url).simple_bind_s("cn=admin,cn=config", password)
                break
            except ldap.SERVER_DOWN:
                assert proc.poll() is None, (tmp_path / "slapd.log").read_text()
                assert time.monotonic() < deadline, "slapd did not start"
                time.sleep(0.05)
        for schema in ("misc", "dyngroup"):
            _ldapmodify(url, "cn=admin,cn=config", password,
                        Path(f"/etc/ldap/schema/{schema}.ldif"), add=True)  # fmt: skip
        out = tmp_path / "ldif"
        out.mkdir()
        for name, text in render(suffix).items():
            (out / name).write_text(text)
        _ldapmodify(url, "cn=admin,cn=config", password, out / "idhub-schema.ldif", add=True)
        _ldapmodify(url, "cn=admin,cn=config", password, out / "idhub-modules.ldif", add=True)
        _ldapmodify(url, "cn=admin,cn=config", password, out / "idhub-acl.ldif", add=False)
        admin = ldap.initialize(url)
        admin.simple_bind_s(f"cn=admin,{suffix}", password)
        admin.add_s(
            suffix,
            [("objectClass", [b"dcObject", b"organization"]), ("dc", [b"tinh"]), ("o", [b"tinh"])],
        )
        _ldapmodify(url, f"cn=admin,{suffix}", password, out / "idhub-accounts.ldif", add=True)
        admin.passwd_s(f"cn=idhub-hub,{suffix}", None, "hub-" + password)
        admin.passwd_s(f"cn=idhub-mail,{suffix}", None, "mail-" + password)

        hub = ldap.initialize(url)
        hub.simple_bind_s(f"cn=idhub-hub,{suffix}", "hub-" + password)
        person = f"uid=annv,{suffix}"
        hub.add_s(
            person,
            [
                ("objectClass", [b"inetOrgPerson", b"idhubPerson"]),
                ("uid", [b"annv"]), ("cn", [b"An"]), ("sn", [b"Nguyen"]),
                ("idhubPersonId", [b"p-1"]), ("idhubAccountStatus", [b"active"]),
                ("mail", [b"annv@tinh.gov.vn"]),
                ("userPassword", [b"{SSHA512}" + b"x" * 88]),
            ],
        )  # fmt: skip
        with pytest.raises(ldap.INSUFFICIENT_ACCESS):
            hub.modify_s(
                f"cn=passwordPolicy,{suffix}", [(ldap.MOD_REPLACE, "pwdMaxFailure", [b"0"])]
            )
        reader = ldap.initialize(url)
        reader.simple_bind_s(f"cn=idhub-mail,{suffix}", "mail-" + password)
        [(dn, entry)] = reader.search_s(suffix, ldap.SCOPE_SUBTREE, "(mail=annv@tinh.gov.vn)")
        assert dn == person and "userPassword" not in entry
        with pytest.raises(ldap.INSUFFICIENT_ACCESS):
            reader.delete_s(person)
        for _ in range(6):  # the default policy locks a person after 5 wrong binds
            with pytest.raises(ldap.INVALID_CREDENTIALS):
                ldap.initialize(url).simple_bind_s(person, "đoán sai")
        [(_, ops)] = admin.search_s(person, ldap.SCOPE_BASE, attrlist=["pwdAccountLockedTime"])
        assert "pwdAccountLockedTime" in ops
    finally:
        proc.terminate()
        proc.wait(10)
