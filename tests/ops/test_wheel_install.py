"""Issue 21's "done when": what docs/deploy.md tells a province to do, on this machine.

The wheel is built from this tree and installed (not editable) into a fresh virtualenv;
the hub runs from that virtualenv only, with its settings in another folder (IDHUB_CONFIG)
and its data in a third, against a slapd that speaks LDAPS only, bound as the hub's
least-privilege account, and with a mail host (Postfix + Dovecot reading that slapd) it
reaches only through doveadm's API over TLS (`mailbox_access = "doveadm"`, as
docs/deploy.md §5: mail_root and the archive folder are the mail host's paths). The test
creates a person through the API, waits for the entry and the mailbox Dovecot made,
activates the account, signs the person in (password + TOTP) through the OIDC code flow
and opens their mailbox over IMAP.

Nothing is downloaded: the new virtualenv reaches the shared one's already-installed
dependencies through a path line in a .pth file (like --system-site-packages, but for a
venv's site-packages); pip installs our wheel into the new virtualenv with
--ignore-installed --no-deps, and the test checks that `idhub` is imported from there.
"""

from __future__ import annotations

import email.parser
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap
import ldap.filter
import pytest
import requests

from idhub.config import PROJECT_DIR
from idhub.ops.devstack.mail import LdapSource, MailStack
from idhub.ops.devstack.ports import free_port
from idhub.ops.devstack.slapd import Slapd, TlsFiles
from tests.fixtures.factories import make_assignment, make_person, make_position, make_unit
from tests.fixtures.ldap import ADMIN_PASSWORD, BASE_DN, HUB_PASSWORD, READER_PASSWORD
from tests.fixtures.mail import imap_login, mail_folder
from tests.fixtures.sso import PASSWORD, REDIRECT, activate, code_flow, sign_in
from tests.fixtures.tls import make_pki

pytestmark = pytest.mark.acceptance

# What a source tree holds that a wheel build does not need.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", "node_modules"
)


def _run(argv: list[str], **kw) -> str:  # type: ignore[no-untyped-def]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)
    assert done.returncode == 0, f"{argv}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this tree, as `pip wheel --no-deps .` builds it (docs/deploy.md step 3)."""
    work = tmp_path_factory.mktemp("wheel")
    source, dist = work / "src", work / "dist"
    # A copy, so that the build's own folders (build/, *.egg-info) stay out of the checkout.
    shutil.copytree(PROJECT_DIR, source, ignore=_NOT_SOURCES)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(dist), str(source)]
    )  # fmt: skip
    [built] = dist.glob("idhub-*.whl")
    return built


def test_the_wheel_carries_its_data_and_licence_and_not_the_gpl_demo_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
        headers = email.parser.Parser().parsestr(archive.read(metadata).decode())
    for shipped in (
        "idhub/defaults/idhub.toml",
        "idhub/defaults/rules.toml",
        "idhub/defaults/ldap/idhub.schema",
        "idhub/defaults/ldap/idhub-acl.ldif",
        "idhub/defaults/mail/dovecot.conf.tmpl",
        "idhub/translations/vi/LC_MESSAGES/messages.mo",
        "idhub/templates/sso_login.html",
        "idhub/static/api-docs.js",
        "idhub/migrations/alembic.ini",
    ):
        assert shipped in names, shipped
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert headers["License-Expression"] == "Apache-2.0"
    requires = headers.get_all("Requires-Dist")
    assert any(r.startswith("joserfc==") for r in requires)
    # The demo's data (GPL-3.0) only with the extra: never in the runtime install.
    assert [r for r in requires if "vietnam" in r] == [
        'vietnam-provinces==2026.9.0; extra == "demo"'
    ]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with this tree's wheel installed in it."""
    env_dir = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(_run([str(python), "-c", where]).strip())
    (purelib / "shared-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [str(python), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--ignore-installed", str(wheel)],
        env=_clean_env(),
    )  # fmt: skip
    return env_dir


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a process of the installed hub: nothing that points at this tree."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, **extra}


@dataclass
class Installed:
    venv: Path
    config_dir: Path
    data_dir: Path
    env: dict[str, str]
    base: str
    directory: Slapd
    mail: MailStack

    def idhub(self, *args: str) -> str:
        return _run([str(self.venv / "bin" / "idhub"), *args], env=self.env, cwd=self.config_dir)


@pytest.fixture(scope="module")
def installed(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    with mail_folder() as mail_host:
        yield from _installed(venv, tmp_path_factory, mail_host)


def _installed(
    venv: Path, tmp_path_factory: pytest.TempPathFactory, mail_host: Path
) -> Iterator[Installed]:
    mail_host.chmod(0o711)  # Postfix's and Dovecot's accounts read the directory's CA here
    pki = make_pki(mail_host / "pki")
    (mail_host / "pki").chmod(0o711)
    pki.ca_file.chmod(0o644)
    directory = Slapd(
        tmp_path_factory.mktemp("slapd-ldaps"),
        base_dn=BASE_DN,
        admin_dn=f"cn=admin,{BASE_DN}",
        admin_password=ADMIN_PASSWORD,
        hub_password=HUB_PASSWORD,
        reader_password=READER_PASSWORD,
        tls=TlsFiles(pki.server_cert, pki.server_key, pki.ca_file, "ldaps"),
    )
    mail = MailStack(
        mail_host / "stack",
        LdapSource(directory.url, BASE_DN, directory.reader_dn, READER_PASSWORD,
                   ca_file=str(pki.ca_file)),
        auth_failure_delay_s=0,
        auth_penalty=False,
    )  # fmt: skip
    config_dir = tmp_path_factory.mktemp("etc-idhub")
    data_dir = tmp_path_factory.mktemp("var-lib-idhub") / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    password_file = config_dir / "ldap_hub_password"
    password_file.write_text(HUB_PASSWORD)
    password_file.chmod(0o600)
    (config_dir / "idhub.toml").write_text(
        f"""var_dir = "{data_dir}"
[server]
public_url = "{base}"
[ldap]
url = "{directory.url}"
base_dn = "{BASE_DN}"
bind_dn = "cn=idhub-hub,{BASE_DN}"
tls_ca_file = "{pki.ca_file}"
tls_required = true
[dev_slapd]
enabled = false
[dev_mail]
enabled = false
[mail]
enabled = true
doveadm_url = "{mail.doveadm_url}"
doveadm_ca_file = "{mail.tls.ca_file}"
mailbox_access = "doveadm"
mail_root = "{mail.mail_root}"
archive_dir = "{mail_host}/archive"
[sso]
argon2_time_cost = 1
argon2_memory_kib = 8192
argon2_parallelism = 1
"""
    )
    env = _clean_env(
        IDHUB_CONFIG=str(config_dir / "idhub.toml"),
        IDHUB_KEY_LDAP_HUB_PASSWORD_FILE=str(password_file),
        IDHUB_MAIL_DOVEADM_PASSWORD=mail.doveadm_password,
        IDHUB_LOGGING_FORMAT="json",
    )
    children: list[subprocess.Popen[bytes]] = []
    with directory, mail:
        assert directory.url.startswith("ldaps://")  # TLS from the first byte, nothing else
        assert mail.doveadm_url.startswith("https://")
        hub = Installed(venv, config_dir, data_dir, env, base, directory, mail)
        hub.idhub("db", "upgrade")
        try:
            for name, argv in (
                ("serve", ["serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"]),
                ("worker", ["worker"]),
            ):
                log = (config_dir / f"{name}.log").open("wb")
                children.append(
                    subprocess.Popen(
                        [str(venv / "bin" / "idhub"), *argv],
                        env=env,
                        cwd=config_dir,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            _wait_for_port(port, children, config_dir)
            yield hub
        finally:
            for child in children:
                child.terminate()
            for child in children:
                child.wait(30)


def _wait_for_port(port: int, children: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + 60
    while True:  # bounded wait until gunicorn answers
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            for child in children:
                assert child.poll() is None, _logs(logs)
            assert time.monotonic() < deadline, "the installed hub did not start\n" + _logs(logs)
            time.sleep(0.1)


def _logs(folder: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text()}" for p in sorted(folder.glob("*.log")))


class HttpApi:
    """tests/fixtures/factories' view of an API client, over HTTP to the installed hub."""

    @dataclass
    class Answer:
        status_code: int
        json: object

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def post(self, url: str, json: object = None) -> HttpApi.Answer:
        headers = {"Authorization": f"Bearer {self.token}"}
        answer = requests.post(self.base + url, json=json, headers=headers, timeout=30)
        return HttpApi.Answer(answer.status_code, answer.json() if answer.content else None)


@dataclass
class Registered:
    client_id: str
    client_secret: str


def test_the_installed_wheel_runs_the_hub_over_ldaps_and_signs_a_person_in(
    installed: Installed,
) -> None:
    python = str(installed.venv / "bin" / "python")
    where = json.loads(
        _run(
            [python, "-c", "import json, idhub, idhub.config as c; "
             "print(json.dumps([idhub.__file__, c.FROM_CHECKOUT, str(c.DEFAULTS_DIR)]))"],
            env=installed.env,
            cwd=installed.config_dir,
        )
    )  # fmt: skip
    assert Path(where[0]).is_relative_to(installed.venv), where  # our wheel, not this tree
    assert where[1] is False and Path(where[2]).is_relative_to(installed.venv)
    assert (installed.data_dir / "idhub.db").is_file()  # data in the configured folder

    hr = Registered(**json.loads(installed.idhub(
        "client", "create", "--name", "HR", "--scope", "hr:read", "--scope", "hr:write", "--json"
    )))  # fmt: skip
    sso_app = Registered(**json.loads(installed.idhub(
        "client", "create", "--name", "Văn bản điện tử", "--grant", "authorization_code",
        "--scope", "openid", "--scope", "profile", "--redirect-uri", REDIRECT,
        "--first-party", "--json",
    )))  # fmt: skip
    token = requests.post(
        installed.base + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "hr:read hr:write"},
        auth=(hr.client_id, hr.client_secret),
        timeout=30,
    ).json()["access_token"]
    api = HttpApi(installed.base, token)
    unit = make_unit(
        api, name="Sở Nội vụ tỉnh Lai Châu", type="department", mail_domain="snv.laichau.gov.vn"
    )
    person = make_person(api, family_name="Vàng", middle_name="A", given_name="Sình")
    make_assignment(api, person, unit, make_position(api, name="Chuyên viên chính"))

    entry = _wait_for_entry(installed.directory, person["username"], installed.config_dir)
    assert entry["cn"] == ["Vàng A Sình".encode()]
    # the mail worker had Dovecot make the mailbox, over the doveadm API only
    (location,) = entry["idhubMailbox"]
    maildir = installed.mail.mail_root / location.decode() / "Maildir"
    _wait_for(lambda: (maildir / "cur").is_dir(), "no mailbox", installed.config_dir)
    assert maildir.stat().st_uid == pwd.getpwnam("mail").pw_uid

    link = installed.idhub("person", "activation-link", person["username"]).strip()
    assert link.startswith(installed.base + "/sso/activate#")
    secret, codes, page = activate(installed.base, link.removeprefix(installed.base))
    assert page.status_code == 200 and len(codes) == 10, page.text

    browser = requests.Session()
    signed_in = sign_in(installed.base, person["username"], PASSWORD, secret, browser=browser)
    assert signed_in.status_code == 303, signed_in.text
    _rp, tokens, _location = code_flow(installed.base, browser, sso_app, scope="openid profile")
    claims = requests.get(
        installed.base + "/oauth/userinfo",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=30,
    ).json()
    assert claims["sub"] and claims["name"] == "Vàng A Sình"
    # the same password opens the mailbox (Dovecot binds to the directory over LDAPS)
    imap = imap_login(installed.mail, person["username"], PASSWORD)
    try:
        assert imap.select("INBOX")[0] == "OK"
    finally:
        imap.logout()
    # The keys not given were made on the first start, in the configured data folder.
    assert (installed.data_dir / "secrets" / "audit_chain_key").is_file()


def _wait_for(done: Callable[[], bool], what: str, logs: Path) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert time.monotonic() < deadline, f"{what}\n" + _logs(logs)
        time.sleep(0.1)


def _wait_for_entry(directory: Slapd, username: str, logs: Path) -> dict[str, list[bytes]]:
    """The worker (over LDAPS, as cn=idhub-hub) writes the person's entry: wait for it."""
    admin = directory.connect()
    try:
        deadline = time.monotonic() + 60
        while True:
            found = admin.search_s(
                BASE_DN, ldap.SCOPE_SUBTREE, f"(uid={ldap.filter.escape_filter_chars(username)})"
            )
            if found:
                return found[0][1]
            assert time.monotonic() < deadline, "no entry in the directory\n" + _logs(logs)
            time.sleep(0.1)
    finally:
        admin.unbind_s()
