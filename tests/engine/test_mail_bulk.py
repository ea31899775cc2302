"""Mailboxes in bulk: a round of the mail target is one batch for Dovecot (HR API →
directory worker → mail worker → real Dovecot through the doveadm HTTP API)."""

from __future__ import annotations

import pwd
import uuid

import pytest
from sqlalchemy import select, update

from idhub.models import JobState, ProvisioningJob, utcnow
from tests.fixtures.factories import joiner_items, lai_chau
from tests.fixtures.mail import drain_all, enable_mail, make_workers


@pytest.fixture
def settings(settings, mail_server, tmp_path):
    return enable_mail(settings, mail_server, tmp_path / "archive")


class Counting:
    """Wraps the mail connector's transport: counts requests; can stop Dovecot halfway
    through one (the first half of its commands sent, the rest refused)."""

    def __init__(self, inner, stop_midway=None) -> None:
        self.inner, self.calls, self.stop_midway = inner, 0, stop_midway
        self.batches_users = inner.batches_users

    def run(self, commands):
        self.calls += 1
        if self.stop_midway is None or len(commands) < 2:
            return self.inner.run(commands)
        half = len(commands) // 2
        first = self.inner.run(commands[:half])
        self.stop_midway()
        self.stop_midway = None
        return first + self.inner.run(commands[half:])


def _joiners(api, org, count: int, prefix: str) -> list[str]:
    response = api.post(
        "/api/v1/batches",
        {"items": joiner_items(org["dept"], org["specialist"], count, id_prefix=prefix)},
    )
    assert response.status_code == 200, response.json
    return [i["id"] for i in response.json["items"] if i["op"] == "create_person"]


def _mail_links(api, people: list[str]) -> dict[str, dict]:
    out = {}
    for person in people:
        accounts = api.get(f"/api/v1/people/{person}/accounts").json
        out[person] = next(a for a in accounts if a["target"] == "mail")
    return out


def test_a_round_of_joiners_gets_its_mailboxes_in_one_request(app, api, mail_server):
    org = lai_chau(api)
    people = _joiners(api, org, 60, "0311")
    drain_all(app, mail=False)  # the directory converges and queues 60 mail jobs
    _, mail_worker = make_workers(app)
    connector = mail_worker.target.connector
    connector.transport = counting = Counting(connector.transport)
    try:
        assert mail_worker.run_once() == 60
    finally:
        mail_worker.close()
    # as many requests for 60 mailboxes as for one: which Maildirs exist; the flushes and
    # lookups; whether anything blocks the new ones; Dovecot making them
    assert counting.calls == 4
    links = _mail_links(api, people)
    assert {link["state"] for link in links.values()} == {"in_sync"}
    mail_uid = pwd.getpwnam("mail").pw_uid
    for person in people:
        maildir = mail_server.mail_root / person[:2] / person / "Maildir"
        assert maildir.is_dir() and maildir.stat().st_uid == mail_uid
        assert links[person]["dn"] == f"{person[:2]}/{person}"
    for person in people[:3]:
        events = api.get(f"/api/v1/audit?object_id={person}&object_type=mailbox").json
        assert [e["action"] for e in events] == ["mailbox.create"]
    # the quota Dovecot applies is the rules' (as before: the directory's idhubMailQuota)
    username = api.get(f"/api/v1/people/{people[0]}").json["username"]
    table = mail_server.doveadm("-f", "tab", "quota", "get", "-u", username).stdout
    limit = app.extensions["idhub"].rules.quota_bytes("standard") // 1024
    assert f"\tSTORAGE\t0\t{limit}\t" in table


def test_one_refused_mailbox_in_a_batch_parks_only_that_one(app, api, mail_server):
    org = lai_chau(api)
    people = _joiners(api, org, 12, "0312")
    drain_all(app, mail=False)
    blocked = mail_server.mail_root / people[5][:2] / people[5]
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a mailbox")  # where the 6th mailbox must go
    drain_all(app)
    links = _mail_links(api, people)
    assert links[people[5]]["state"] == "failed"
    assert "InvalidData" in links[people[5]]["last_error"]
    assert all(links[p]["state"] == "in_sync" for p in people if p != people[5])
    with app.extensions["idhub"].db.transaction() as session:
        left = session.execute(
            select(ProvisioningJob.subject_id, ProvisioningJob.state).where(
                ProvisioningJob.target == "mail"
            )
        ).all()
    assert [tuple(row) for row in left] == [(uuid.UUID(people[5]), JobState.FAILED)]


def test_dovecot_stopped_mid_batch_then_back_converges_everything(app, api, mail_server):
    org = lai_chau(api)
    people = _joiners(api, org, 40, "0313")
    drain_all(app, mail=False)
    _, mail_worker = make_workers(app)
    connector = mail_worker.target.connector
    connector.transport = Counting(connector.transport, stop_midway=mail_server.stop_dovecot)
    try:
        try:  # the round's commands: half sent, then Dovecot goes away
            assert mail_worker.run_once() == 40
        finally:
            mail_server.start()
    finally:
        mail_worker.close()
    links = _mail_links(api, people)
    assert {link["state"] for link in links.values()} == {"pending"}
    assert all("Dovecot is not answering" in link["last_error"] for link in links.values())
    # back: the waiting jobs are due (their backoff cut short) and converge, nothing lost
    with app.extensions["idhub"].db.transaction() as session:
        session.execute(update(ProvisioningJob).values(next_try_at=utcnow()))
    drain_all(app)
    links = _mail_links(api, people)
    assert {link["state"] for link in links.values()} == {"in_sync"}
    for person in people:
        assert (mail_server.mail_root / person[:2] / person / "Maildir").is_dir()
