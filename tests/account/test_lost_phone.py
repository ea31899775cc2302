"""The lost-phone reset (a security officer's access reset with `reset_second_factor`):
the link alone does not re-enrol the second factor; the person proves their password
or the hand-over code the API returned to the officer, five wrong proofs end the link."""

from __future__ import annotations

import re
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from idhub.cli import main
from idhub.models import Passkey
from tests.account.helpers import events
from tests.conftest import Api, register_client, token_for
from tests.fixtures.sso import PASSWORD, code_at, form_fields, open_link, sign_in
from tests.oidc.test_admin import _env

NEW_PASSWORD = "Mất điện thoại ở chợ phiên 2027"


@pytest.fixture
def officer(app, client) -> Api:
    return Api(client, token_for(client, register_client(app, ["access:reset"])))


def _lost_phone_reset(officer: Api, hub: str, person: dict) -> tuple[str, str]:
    answer = officer.post(
        f"/api/v1/people/{person['id']}/access-reset",
        {"reason": "Phiếu 77: mất điện thoại", "reset_second_factor": True},
    )
    assert answer.status_code == 201, answer.json
    return answer.json["url"].replace(hub, ""), answer.json["handover_code"]


def _submit(browser, hub, page, **data):  # type: ignore[no-untyped-def]
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page.text).group(1)
    fields = {"password": "", "password2": "", "code": code_at(secret, 0), **data}
    return secret, browser.post(hub + "/sso/activate", data={**form_fields(page.text), **fields})


def _passkeys(app, person: dict) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        return len(
            session.scalars(
                select(Passkey).where(Passkey.person_id == uuid.UUID(person["id"]))
            ).all()
        )


def test_proven_by_the_password_only_the_second_factor_is_new(app, hub, officer, person):
    with app.extensions["idhub"].db.transaction() as session:  # a passkey on the lost phone
        session.add(
            Passkey(
                person_id=uuid.UUID(person["id"]),
                credential_id="bWF0LWRpZW4tdGhvYWk",
                public_key=b"cose",
                name="Điện thoại cũ",
            )
        )
    assert _passkeys(app, person) == 1
    path, _ = _lost_phone_reset(officer, hub, person)
    browser, page = open_link(hub, path)
    assert 'name="proof"' in page.text
    secret, done = _submit(browser, hub, page, proof=PASSWORD)
    assert done.status_code == 200, done.text
    assert len(re.findall(r"<li><code>", done.text)) == 10  # new recovery codes, once
    # The password is kept; the old app's codes no longer work, the new one's do.
    assert sign_in(hub, person["username"], PASSWORD, person["secret"], step=1).status_code == 401
    assert sign_in(hub, person["username"], PASSWORD, secret, step=1).status_code == 303
    [event] = events(app, "sso.totp.enrol", person["id"])[-1:]
    assert "proven by password" in (event.reason or "")
    # Every old second factor goes: the phone's passkey no longer signs in.
    assert _passkeys(app, person) == 0
    assert events(app, "sso.passkey.remove_all", person["id"])


def test_proven_by_the_hand_over_code_a_new_password_is_needed(app, hub, officer, person):
    path, handover = _lost_phone_reset(officer, hub, person)
    browser, page = open_link(hub, path)
    _, refused = _submit(browser, hub, page, proof=handover)
    assert refused.status_code == 400 and "cần đặt mật khẩu mới" in refused.text
    page = browser.get(hub + "/sso/activate")
    secret, done = _submit(
        browser,
        hub,
        page,
        proof=handover.replace("-", " "),
        password=NEW_PASSWORD,
        password2=NEW_PASSWORD,
    )
    assert done.status_code == 200, done.text
    assert sign_in(hub, person["username"], NEW_PASSWORD, secret, step=1).status_code == 303


def test_five_wrong_proofs_end_the_link(app, hub, officer, person):
    path, handover = _lost_phone_reset(officer, hub, person)
    browser, page = open_link(hub, path)
    for wrong in ("0000-0000", "Sai mật khẩu 2027", "", "1234 5678", "không biết"):
        _, refused = _submit(browser, hub, page, proof=wrong)
        assert refused.status_code == 400
        page = browser.get(hub + "/sso/activate")
    assert 'name="proof"' not in page.text  # the link is gone
    _, reopened = open_link(hub, path)
    assert reopened.status_code == 404
    # The person's sign-in still works as before: nothing was changed.
    assert sign_in(hub, person["username"], PASSWORD, person["secret"]).status_code == 303


def test_the_command_line_prints_the_hand_over_code(app, hub, person, settings, monkeypatch):
    """`idhub person activation-link --reset --reset-second-factor`: the link on stdout,
    the hand-over code on stderr (for the officer at the server, never in the link)."""
    _env(monkeypatch, settings)
    out = CliRunner().invoke(
        main,
        [
            "person",
            "activation-link",
            person["username"],
            "--reset",
            "--reason",
            "Phiếu 80: mất điện thoại",
            "--reset-second-factor",
        ],
    )
    assert out.exit_code == 0, out.output
    assert out.stdout.strip().startswith(hub + "/sso/activate#")
    handover = re.search(r"hand-over code \(give it in person\): (\d{4}-\d{4})", out.stderr)
    assert handover is not None
    browser, page = open_link(hub, out.stdout.strip().replace(hub, ""))
    secret, done = _submit(
        browser,
        hub,
        page,
        proof=handover.group(1),
        password=NEW_PASSWORD,
        password2=NEW_PASSWORD,
    )
    assert done.status_code == 200, done.text
