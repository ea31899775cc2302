"""Shared by the account tests: posting a section's form, reading the database."""

from __future__ import annotations

import uuid

import requests
from sqlalchemy import select

from idhub.models import AuditEvent, LoginLock, PersonCredential
from tests.fixtures.sso import form_fields

NEW_PASSWORD = "Đổi mật khẩu lần hai 2027"


def post_form(browser: requests.Session, hub: str, page: str, action: str, **data: str):  # type: ignore[no-untyped-def]
    """GET the page (its CSRF token), then POST the form to `action`."""
    shown = browser.get(hub + page)
    assert shown.status_code == 200, shown.text
    return browser.post(
        hub + action, data={**form_fields(shown.text), **data}, allow_redirects=False
    )


def events(app, action: str, person_id: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        rows = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == action, AuditEvent.object_id == person_id)
                .order_by(AuditEvent.id)
            )
        )
        session.expunge_all()
    return rows


def credential_of(app, person_id: str) -> PersonCredential:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        row = session.get(PersonCredential, uuid.UUID(person_id))
        assert row is not None
        session.expunge(row)
    return row


def pair_failures(app, person_id: str) -> int:  # type: ignore[no-untyped-def]
    with app.extensions["idhub"].db.reading() as session:
        rows = session.scalars(select(LoginLock).where(LoginLock.person_id == uuid.UUID(person_id)))
        return sum(r.total_failures for r in rows)
