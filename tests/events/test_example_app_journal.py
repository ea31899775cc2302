"""The example app's own user table survives a restart: each applied event is journalled
before the hub gets its answer, and replayed when the app starts again (`make run`
restarts the apps; the hub does not send what it counts as delivered a second time)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from pathlib import Path

from standardwebhooks.webhooks import Webhook

from examples.rp_app import create_rp

SECRET = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _app(journal: Path):  # type: ignore[no-untyped-def]
    return create_rp(
        "Văn bản", "http://127.0.0.1:9", "http://127.0.0.1:8", "docs", "s", SECRET, journal
    ).test_client()


def _send(client, event_id: str, kind: str, sub: str, seq: int):  # type: ignore[no-untyped-def]
    body = json.dumps(
        {
            "id": event_id,
            "type": kind,
            "seq": seq,
            "data": {"person": {"sub": sub, "username": f"u{sub}", "name": "Lò Thị Én"}},
        },
        ensure_ascii=False,
    )
    now = dt.datetime.now(dt.UTC)
    headers = {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(event_id, now, body),
        "content-type": "application/json",
    }
    return client.post("/events", data=body.encode(), headers=headers)


def test_the_user_table_survives_a_restart(tmp_path):
    journal = tmp_path / "apps" / "docs.events.jsonl"
    first = _app(journal)
    assert _send(first, "ev1", "joiner", "a", 1).status_code == 204
    assert _send(first, "ev2", "joiner", "b", 1).status_code == 204
    assert _send(first, "ev3", "leaver", "a", 2).status_code == 204
    assert _send(first, "ev2", "joiner", "b", 1).status_code == 204  # a retry: applied once
    assert len(journal.read_text(encoding="utf-8").splitlines()) == 3
    assert journal.stat().st_mode & 0o777 == 0o600

    with journal.open("a", encoding="utf-8") as torn:  # killed in the middle of a line
        torn.write('{"id": "ev4", "type": "join')
    again = _app(journal)
    assert [u["sub"] for u in again.get("/users").json] == ["b"]
    assert _send(again, "ev2", "joiner", "b", 1).status_code == 204  # still known as seen
    assert [u["sub"] for u in again.get("/users").json] == ["b"]
    assert _send(again, "ev4", "joiner", "c", 1).status_code == 204  # sent again by the hub
    third = _app(journal)
    assert [u["sub"] for u in third.get("/users").json] == ["b", "c"]


def test_a_forged_event_is_refused_and_not_journalled(tmp_path):
    journal = tmp_path / "docs.events.jsonl"
    app = _app(journal)
    response = app.post("/events", data=b'{"id": "x"}', headers={"webhook-id": "x"})
    assert response.status_code == 400
    assert journal.read_text(encoding="utf-8") == ""
