"""`idhub client events`: the secret shown once, the people queued, unknown types and
clients refused, `--off`; all audited, never the secret."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import func, select

from idhub.changes.outbox import EVENTS_TARGET
from idhub.cli import main
from idhub.models import AuditEvent, EventSubscription, ProvisioningJob
from tests.fixtures.sso import hr_person, register_app


def test_client_events_from_the_command_line(app, api, settings, monkeypatch):
    person = hr_person(api, given_name="Hoa")
    registered = register_app(app, name="Họp trực tuyến", client_id="meeting")
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    run = CliRunner().invoke
    out = run(
        main,
        ["client", "events", "meeting", "--url", "https://hop.example.vn/events",
         "--types", "joiner,leaver"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    secret = out.output.split("webhook secret (shown once): ")[1].strip()
    assert secret.startswith("whsec_")
    again = run(main, ["client", "events", "meeting", "--url", "https://hop.example.vn/ev2"])
    assert again.exit_code == 0 and "whsec_" not in again.output  # kept, not shown again
    hub = app.extensions["idhub"]
    with hub.db.reading() as session:
        row = session.get(EventSubscription, "meeting")
        assert row is not None and row.url == "https://hop.example.vn/ev2"
        assert hub.keyring.decrypt(row.secret_encrypted) == secret
        queued = session.scalar(
            select(func.count())
            .select_from(ProvisioningJob)
            .where(ProvisioningJob.target == EVENTS_TARGET)
        )
        assert queued == 1  # the present user, to be sent as a joiner
        audit = list(
            session.scalars(select(AuditEvent.after).where(AuditEvent.action == "client.events"))
        )
    assert len(audit) == 2 and all(secret not in json.dumps(after) for after in audit)
    bad = run(main, ["client", "events", "meeting", "--url", "https://x.vn/e", "--types", "x"])
    assert bad.exit_code != 0 and "unknown_event_type" in bad.output
    nobody = run(main, ["client", "events", "nobody", "--url", "https://x.vn/e"])
    assert nobody.exit_code != 0 and "client_not_found" in nobody.output
    off = run(main, ["client", "events", "meeting", "--off"])
    assert off.exit_code == 0, off.output
    with hub.db.reading() as session:
        assert session.get(EventSubscription, "meeting") is None
    assert person["id"] and registered.client_id == "meeting"
