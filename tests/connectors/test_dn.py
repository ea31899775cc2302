"""connectors.dn: the pure-Python DN parser agrees with python-ldap's (libldap's), and
the provisioning core imports no LDAP library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ldap
import ldap.dn
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.dn import (
    _key_of,
    dn2str,
    dn_key,
    equal_dns,
    escape_dn_chars,
    rdn_of,
    rdn_value,
    split_dn,
    str2dn,
)

ROOT = Path(__file__).resolve().parents[2]

# Pieces that reach every corner of libldap's lenient parser: ";" between RDNs, quoted
# values, #hex values, hex and character escapes, white space it trims or keeps,
# characters it refuses unescaped, invalid UTF-8 behind escapes.
_PIECES = st.sampled_from(
    [
        "uid", "UID", "ou", "cn", "a1-", "1.2", "01", "=", ",", ", ", "+", ";", "\\",
        "\\,", "\\2C", "\\c3", "\\a9", "\\ff", "\\5c", "\\g", '"', " ", "\t", "\n", "\r",
        "a", "Sở", "#", "#04", "#c3a9", "#ff", "#0", "x=y", "Đ", "\u0301", "<", ">",
        "\x01", "\x7f", "\\\t", "\\ ", "\\#", "\\=", '\\"', "\\00", "\\7F", "\\20", "\xa0",
    ]
)  # fmt: skip


def _python_ldap(dn: str) -> object:
    try:
        return ldap.dn.str2dn(dn)
    except (ldap.DECODING_ERROR, UnicodeDecodeError):
        return "refused"


def _pure(dn: str) -> object:
    try:
        return str2dn(dn)
    except ValueError:
        return "refused"


@settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_PIECES, min_size=1, max_size=14).map("".join))
def test_str2dn_agrees_with_python_ldap(dn: str) -> None:
    """The same RDNs, values and flags, or the same refusal."""
    assert _pure(dn) == _python_ldap(dn), dn


@pytest.mark.parametrize(
    "dn",
    [
        "", " ", "a=b", " a = b , c = d ", "a=b;c=d", 'a="x,y"', 'a="x" ', "a=#04024869",
        "a=\\c3\\a9", "a=x\\\\ ", "a=b\t", "cn;lang-en=x", "1.2.3=x", "a=b+c=d", "a=",
        "a=b,", ",a=b", "a=x\"y", "a=\\ff", "a=#ff", "a=b\x00", "a_b=x", "OID.1.2=x",
    ],
)  # fmt: skip
def test_str2dn_examples(dn: str) -> None:
    assert _pure(dn) == _python_ldap(dn)


@settings(max_examples=2000, deadline=None)
@given(st.text())
def test_escaping_and_joining_agree_with_python_ldap(value: str) -> None:
    assert escape_dn_chars(value) == ldap.dn.escape_dn_chars(value)
    rdns = [[("cn", value, 1)], [("dc", "x", 1)]]
    assert dn2str(rdns) == ldap.dn.dn2str(rdns)


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_PIECES, min_size=1, max_size=12).map("".join))
def test_first_rdn_shortcuts_agree_with_parsing_the_whole_dn(dn: str) -> None:
    """dn_key, rdn_value and rdn_of parse the first RDN alone when they can: the same
    result, or the same refusal, as parsing the whole DN."""
    try:
        whole = split_dn(dn)
    except ValueError:
        for fast in (dn_key, rdn_value):
            with pytest.raises(ValueError):
                fast(dn)
        assert not equal_dns(dn, dn)
        return
    assert dn_key(dn) == _key_of(whole)
    assert rdn_value(dn) == (whole[0][0][1] if whole else "")
    if whole:
        assert [(a, v) for a, v, _ in str2dn(rdn_of(dn))[0]] == [(a, v) for a, v, _ in whole[0]]


def test_the_core_imports_no_ldap_library() -> None:
    """provisioning (and the connectors.dn it builds on) load without python-ldap."""
    code = (
        "import pkgutil, importlib, sys, provisioning\n"
        "for m in pkgutil.iter_modules(provisioning.__path__):\n"
        "    importlib.import_module('provisioning.' + m.name)\n"
        "import connectors.dn, connectors.base\n"
        "bad = sorted(n for n in sys.modules if n == 'ldap' or n.startswith(('ldap.', '_ldap')))\n"
        "assert not bad, bad\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, env={"PYTHONPATH": str(ROOT)}
    )
