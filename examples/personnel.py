"""Nhân sự (personnel): an HR officer records a joiner, a move and a leaver through the
hub's REST API with their own token — HR starting provisioning through an app.

The app asks the hub for `hr:read hr:write` in the person's token (the client is allowed
those scopes); the hub gives them only to a person who holds them (an HR officer's post,
an admin grant) and limits them to the officer's unit subtree: an officer of commune X
cannot post into Y, and the hub's answer (403, 422) is shown as it came. The forms are
server-rendered with a CSRF token of the app's own session.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Any

import requests
from flask import Flask, abort, redirect, request, session

from examples.rp_base import Kind, escape

SCOPE = "openid profile org hr:read hr:write"
TIMEOUT = 10
NOT_FOUND = "Không tìm thấy đơn vị hoặc chức vụ (trong phạm vi của bạn)."


def home(user: dict[str, Any]) -> str:
    return "<p><a id='staff' href='/staff'>Ghi nhận biến động nhân sự</a></p>"


def _form(action: str, title: str, fields: list[tuple[str, str, str]], csrf: str) -> str:
    inputs = "".join(
        f"<label for='{action}-{n}'>{escape(label)}</label>"
        f"<input id='{action}-{n}' name='{n}' type='{t}' required>"
        for n, label, t in fields
    )
    return (
        f"<form method='post' action='/staff/{action}' id='{action}'><h2>{escape(title)}</h2>"
        f"<input type='hidden' name='csrf' value='{escape(csrf)}'>{inputs}"
        f"<button type='submit'>Ghi nhận</button></form>"
    )


def routes(app: Flask, hub: Any, page: Any) -> None:
    issuer = hub.server_metadata.get("issuer") if hub.server_metadata else None

    def api() -> requests.Session:
        token = session.get("access_token")
        if not token:
            abort(401)
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {token}"
        return s

    def base() -> str:
        return (issuer or hub.load_server_metadata()["issuer"]).rstrip("/") + "/api/v1"

    def one(http: requests.Session, path: str, code: str) -> dict[str, Any] | None:
        found = http.get(f"{base()}/{path}", params={"code": code}, timeout=TIMEOUT)
        rows = found.json() if found.ok else []
        return rows[0] if rows else None

    def checked() -> None:
        if not session.get("user"):
            abort(401)
        sent = request.form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(400)

    def outcome(text: str, ok: bool) -> str:
        css = "ok" if ok else "error"
        return page(
            f"<p id='outcome' class='{css}'>{escape(text)}</p><a href='/staff'>Quay lại</a>"
        )

    def failed(answer: requests.Response) -> str:
        try:
            body = answer.json()
        except ValueError:
            body = {}
        message = body.get("message") or answer.reason
        return outcome(
            f"IDHub từ chối ({answer.status_code}): {message} {body.get('details', '')}", False
        )

    @app.get("/staff")
    def staff():  # type: ignore[no-untyped-def]
        if not session.get("user"):
            return redirect("/login")
        csrf = session.get("csrf", "")
        joiner = [
            ("family_name", "Họ", "text"), ("middle_name", "Tên đệm", "text"),
            ("given_name", "Tên", "text"), ("national_id", "Số CCCD", "text"),
            ("unit_code", "Mã đơn vị", "text"), ("position_code", "Mã chức vụ", "text"),
            ("start_date", "Ngày bắt đầu", "date"),
        ]  # fmt: skip
        move = [
            ("person_id", "Mã cán bộ (id)", "text"), ("unit_code", "Đơn vị mới", "text"),
            ("position_code", "Chức vụ mới", "text"), ("start_date", "Từ ngày", "date"),
        ]  # fmt: skip
        leaver = [("person_id", "Mã cán bộ (id)", "text"), ("end_date", "Ngày nghỉ", "date")]
        return page(
            _form("joiner", "Tiếp nhận (người mới)", joiner, csrf)
            + _form("move", "Điều động", move, csrf)
            + _form("leaver", "Nghỉ việc", leaver, csrf)
        )

    def open_posts(http: requests.Session, person_id: str, day: str) -> list[dict[str, Any]]:
        found = http.get(
            f"{base()}/assignments", params={"person_id": person_id, "active_on": day},
            timeout=TIMEOUT,
        )  # fmt: skip
        return found.json() if found.ok else []

    def where() -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The unit and position the form names, as the officer's token sees them: a unit
        outside the officer's subtree is not found (the hub's scope rule)."""
        http = api()
        unit = one(http, "org-units", request.form["unit_code"].strip())
        position = one(http, "positions", request.form["position_code"].strip())
        return (unit, position) if unit is not None and position is not None else None

    def post_assignment(
        http: requests.Session, person_id: str, found: tuple[dict[str, Any], dict[str, Any]]
    ) -> requests.Response:
        unit, position = found
        body = {
            "person_id": person_id, "unit_id": unit["id"], "position_id": position["id"],
            "kind": "primary", "start_date": request.form["start_date"],
        }  # fmt: skip
        return http.post(f"{base()}/assignments", json=body, timeout=TIMEOUT)

    @app.post("/staff/joiner")
    def joiner():  # type: ignore[no-untyped-def]
        checked()
        http = api()
        found = where()
        if found is None:  # checked first: nobody is created without a post
            return outcome(NOT_FOUND, False)
        names = ("family_name", "middle_name", "given_name", "national_id")
        made = http.post(
            f"{base()}/people", json={k: request.form[k].strip() for k in names}, timeout=TIMEOUT
        )
        if not made.ok:
            return failed(made)
        person = made.json()
        posted = post_assignment(http, person["id"], found)
        if not posted.ok:
            return failed(posted)
        return outcome(f"Đã tiếp nhận {person.get('username') or person['id']}.", True)

    @app.post("/staff/move")
    def move():  # type: ignore[no-untyped-def]
        checked()
        http = api()
        person_id = request.form["person_id"].strip()
        day = request.form["start_date"]
        found = where()
        if found is None:
            return outcome(NOT_FOUND, False)
        # The old primary post ends the day before the new one starts (end inclusive).
        try:
            last = (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()
        except ValueError:
            return outcome("Ngày không hợp lệ.", False)
        for post in open_posts(http, person_id, day):
            if post.get("kind") == "primary":
                ended = http.post(
                    f"{base()}/assignments/{post['id']}/end", json={"end_date": last},
                    timeout=TIMEOUT,
                )  # fmt: skip
                if not ended.ok:
                    return failed(ended)
        posted = post_assignment(http, person_id, found)
        return failed(posted) if not posted.ok else outcome("Đã điều động.", True)

    @app.post("/staff/leaver")
    def leaver():  # type: ignore[no-untyped-def]
        checked()
        http = api()
        person_id = request.form["person_id"].strip()
        day = request.form["end_date"]
        for post in open_posts(http, person_id, day):
            ended = http.post(
                f"{base()}/assignments/{post['id']}/end", json={"end_date": day}, timeout=TIMEOUT
            )
            if not ended.ok:
                return failed(ended)
        return outcome("Đã ghi nhận nghỉ việc.", True)


KIND = Kind(name="personnel", scope=SCOPE, home=home, routes=routes)
