"""config/ldap/*.ldif (for a province's existing OpenLDAP, cn=config) are what the dev
slapd's template says: regenerated here and compared, so the two never drift."""

from __future__ import annotations

from idhub.ops.devstack.ldif import render
from idhub.ops.devstack.slapd import CONFIG_DIR


def test_the_committed_ldif_matches_the_slapd_template() -> None:
    for name, text in render().items():
        committed = (CONFIG_DIR / name).read_text()
        assert committed == text, (
            f"config/ldap/{name} is stale: run `python -m idhub.ops.devstack.ldif`"
        )


def test_the_ldif_grants_the_hub_write_and_the_mail_maps_read_only() -> None:
    acl = render("dc=tinh,dc=gov,dc=vn")["idhub-acl.ldif"].replace("\n ", "")
    assert 'to *  by dn.base="cn=idhub-hub,dc=tinh,dc=gov,dc=vn" write' in acl
    assert 'olcLimits: {1}dn.base="cn=idhub-mail,dc=tinh,dc=gov,dc=vn" size=unlimited' in acl
    assert "cn=admin" not in acl  # the rootdn is nobody's bind
