"""Audit anchors: the chain's head signed and kept outside the database, so a chain cut
short (events removed from its end) is noticed."""

from __future__ import annotations

import json

from click.testing import CliRunner

from idhub.audit.anchors import AnchorWriter, load_anchors
from idhub.cli import main
from idhub.scheduler.tasks import tasks
from tests.audit.test_audit import _tamper
from tests.fixtures.factories import make_person, make_unit


def _cli(settings, monkeypatch, *args):
    monkeypatch.setenv("IDHUB_DATABASE_URL", settings["database"]["url"])
    monkeypatch.setenv("IDHUB_VAR_DIR", settings["var_dir"])
    return CliRunner().invoke(main, ["audit", *args])


def test_anchor_then_verify_passes_and_a_cut_chain_fails(api, app, settings, monkeypatch, tmp_path):
    make_unit(api)
    make_person(api)
    anchors = tmp_path / "anchors"
    out = _cli(settings, monkeypatch, "anchor", "--dir", str(anchors))
    assert out.exit_code == 0, out.output
    assert "anchored event" in out.output
    (written,) = load_anchors(anchors)
    assert set(written.anchor) == {"v", "event_id", "hash", "at", "node", "key", "sig"}
    last = written.anchor["event_id"]

    out = _cli(settings, monkeypatch, "verify", "--anchors", str(anchors))
    assert out.exit_code == 0, out.output
    assert "anchors agree: 1 checked" in out.output

    # The attacker with database rights cuts the newest events: the chain is still whole.
    _tamper(app.extensions["idhub"].db, f"DELETE FROM audit_event WHERE id >= {last - 1}")
    assert _cli(settings, monkeypatch, "verify").exit_code == 0
    out = _cli(settings, monkeypatch, "verify", "--anchors", str(anchors))
    assert out.exit_code == 1
    assert f"events {last - 1}..{last} were cut off the end" in out.output


def test_a_rewritten_or_forged_anchor_fails(api, app, settings, monkeypatch, tmp_path):
    make_unit(api)
    anchors = tmp_path / "anchors"
    assert _cli(settings, monkeypatch, "anchor", "--dir", str(anchors)).exit_code == 0
    (written,) = load_anchors(anchors)
    forged = dict(written.anchor, event_id=1)  # moved back, as if fewer events were ever made
    written.path.write_text(json.dumps(forged))
    out = _cli(settings, monkeypatch, "verify", "--anchors", str(anchors))
    assert out.exit_code == 1
    assert "signature does not verify" in out.output


def test_verify_with_the_public_key_only(api, app, settings, monkeypatch, tmp_path):
    make_unit(api)
    anchors = tmp_path / "anchors"
    assert _cli(settings, monkeypatch, "anchor", "--dir", str(anchors)).exit_code == 0
    out = _cli(settings, monkeypatch, "anchor-key")
    public = tmp_path / "anchor.pub"
    public.write_text(out.output)
    out = _cli(
        settings, monkeypatch, "verify", "--anchors", str(anchors), "--public-key", str(public)
    )
    assert out.exit_code == 0, out.output
    other = tmp_path / "other.pub"
    other.write_text("A" * 43 + "=")
    out = _cli(
        settings, monkeypatch, "verify", "--anchors", str(anchors), "--public-key", str(other)
    )
    assert out.exit_code == 1 and "signature does not verify" in out.output


def test_an_empty_anchor_folder_is_not_a_pass(api, settings, monkeypatch, tmp_path):
    make_unit(api)
    out = _cli(settings, monkeypatch, "verify", "--anchors", str(tmp_path / "none"))
    assert out.exit_code == 1 and "no anchors" in out.output


def test_the_scheduler_anchors_only_when_the_chain_grew(api, app, tmp_path):
    hub = app.extensions["idhub"]
    writer = AnchorWriter(tmp_path / "anchors", hub.keyring, to_syslog=False)
    clock = tasks(hub.db, hub.audit, hub.rules, writer, 60.0)
    anchor_task = next(task for task in clock if task.name == "audit anchor")
    anchor_task.run(None)  # the client's registration is the head
    anchor_task.run(None)  # the head did not move: no second anchor
    assert len(load_anchors(tmp_path / "anchors")) == 1
    make_person(api)
    anchor_task.run(None)
    found = load_anchors(tmp_path / "anchors")
    assert len(found) == 2 and found[1].anchor["event_id"] > found[0].anchor["event_id"]


def test_an_unwritable_anchor_folder_does_not_stop_the_clock(api, app, tmp_path, caplog):
    hub = app.extensions["idhub"]
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    writer = AnchorWriter(blocker / "anchors", hub.keyring, to_syslog=False)
    (anchor_task,) = [
        t for t in tasks(hub.db, hub.audit, hub.rules, writer) if t.name == "audit anchor"
    ]
    anchor_task.run(None)  # logged, not raised
    assert "audit anchor not written" in caplog.text


def test_idhub_worker_anchors_into_the_configured_folder(api, settings, tmp_path):
    """`idhub worker`'s clock has the anchor task, writing where [audit] anchor_dir says."""
    from idhub.app import load_checked
    from idhub.ops.commands import _clock
    from idhub.runtime import Runtime

    make_unit(api)
    anchors = tmp_path / "worker-anchors"
    rt = Runtime(
        load_checked({**settings, "audit": {**settings["audit"], "anchor_dir": str(anchors)}})
    )
    clock = {task.name: task for task in _clock(rt)}
    assert clock["audit anchor"].every_s == settings["audit"]["anchor_interval_s"]
    clock["audit anchor"].run(None)
    (written,) = load_anchors(anchors)
    assert written.anchor["event_id"] >= 2
    off = Runtime(load_checked({**settings, "audit": {**settings["audit"], "anchor_dir": ""}}))
    assert "audit anchor" not in {task.name for task in _clock(off)}
    rt.db.dispose()
    off.db.dispose()
