"""`idhub client scim` and `idhub client scim-reconcile`: the token kept encrypted and
never audited, bad input refused with its code; a reconcile deactivates a user the hub
does not know and creates again one the app lost."""

from __future__ import annotations

import json
import uuid

import httpx2
from click.testing import CliRunner
from sqlalchemy import select

from idhub.cli import main
from idhub.models import AuditEvent, ScimState, ScimSubscription
from tests.scimout.conftest import TOKEN, DocumentsApp, queued, run_rounds
from tests.scimout.test_apps_kept_in_step import department, joiner, province


def test_client_scim_and_reconcile(
    app, api, settings, monkeypatch, tmp_path, documents: DocumentsApp
):
    root = province(api)
    unit = department(api, root, "Sở Nội vụ tỉnh Lai Châu")
    kept = joiner(api, unit, "Hoa")
    lost = joiner(api, unit, "Minh")
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    run = CliRunner().invoke
    url = documents.url + "/scim/v2"
    out = run(
        main,
        ["client", "scim", "document", "--url", url, "--token-file", str(token_file),
         "--subtree", root["code"], "--role-prefix", "document:"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    hub = app.extensions["idhub"]
    with hub.db.reading() as session:
        row = session.get(ScimSubscription, "document")
        assert row is not None and row.subtree == root["code"] and row.role_prefix == "document:"
        assert hub.keyring.decrypt(row.token_encrypted) == TOKEN
        audit = list(
            session.scalars(select(AuditEvent.after).where(AuditEvent.action == "client.scim"))
        )
    assert audit and all(TOKEN not in json.dumps(after) for after in audit)
    for bad, code in (
        (["--url", "ftp://x"], "invalid_scim_url"),
        (["--url", url, "--subtree", "NO-SUCH"], "unit_not_found"),
        (["--url", url, "--role-prefix", "document"], "invalid_role_prefix"),
    ):
        refused = run(main, ["client", "scim", "document", *bad])
        assert refused.exit_code != 0 and code in refused.output, refused.output
    nobody = run(main, ["client", "scim", "nobody", "--url", url, "--token-file", str(token_file)])
    assert nobody.exit_code != 0 and "client_not_found" in nobody.output

    run_rounds(app, lambda: queued(app) == 0)
    assert set(documents.users()) == {kept["username"], lost["username"]}
    # The app's side drifts: one of the hub's users deleted there, one of its own added.
    assert documents.storage is not None
    lost_id = documents.users()[lost["username"]]["id"]
    documents.storage.resources = [r for r in documents.storage.resources if r.id != lost_id]
    created = httpx2.post(
        url + "/Users",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json"},
        json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "nguoi.la"},
    )
    assert created.status_code == 201, created.text
    done = run(main, ["client", "scim-reconcile", "document"])
    assert done.exit_code == 0, done.output
    assert "2 users listed, 1 deactivated, 1 to create again" in done.output
    run_rounds(app, lambda: queued(app) == 0)
    users = documents.users()
    assert not users["nguoi.la"]["active"]
    assert users[lost["username"]]["active"] and users[kept["username"]]["active"]
    with hub.db.reading() as session:
        state = session.get(ScimState, ("document", uuid.UUID(lost["id"])))
        assert state is not None and state.remote_id == users[lost["username"]]["id"]
