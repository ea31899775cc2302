"""A relying-party app signing people in with IDHub (Authlib's Flask client).

`make run` starts three of these ("Văn bản", "Họp trực tuyến", "Nhân sự") on the ports
after the hub's. One sign-in at the hub serves all three (single sign-on); signing out
of one ends the hub session and the others learn it by back-channel logout.

    python examples/rp_app.py   # configured by RP_NAME, RP_URL, RP_ISSUER,
                                # RP_CLIENT_ID, RP_CLIENT_SECRET

With an events secret (RP_EVENTS_SECRET, the `whsec_…` that `idhub client events` shows
once), the app keeps its own user table from the hub's signed change events: `POST
/events` checks the Standard Webhooks signature, skips an event id it has seen, adds a
joiner, updates a mover or a role change, removes a leaver; `GET /users` lists the table.

Local sessions are Flask's signed cookies holding the hub's `sid`; a back-channel logout
token (signature checked against the hub's JWKS) adds its `sid` to an in-memory set that
ends those local sessions on their next request. Several processes of one app would
share that set in a database or cache instead.
"""

from __future__ import annotations

import html
import json
import logging
import os
import secrets
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.flask_client import OAuth
from flask import Flask, jsonify, redirect, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
SCOPE = "openid profile email org roles"


def create_rp(
    name: str,
    url: str,
    issuer: str,
    client_id: str,
    client_secret: str,
    events_secret: str | None = None,
    journal: Path | None = None,
) -> Flask:
    app = Flask(f"rp-{client_id}")
    app.secret_key = secrets.token_urlsafe(32)
    app.config.update(SESSION_COOKIE_NAME=f"rp_{urlsplit(url).port}", SESSION_COOKIE_HTTPONLY=True)
    oauth = OAuth(app)
    hub = oauth.register(
        "idhub",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
    )
    ended_sids: set[str] = set()
    lock = threading.Lock()

    def page(body: str) -> str:
        return (
            f"<!doctype html><html lang='vi'><meta charset='utf-8'><title>{html.escape(name)}"
            f"</title><body><h1>{html.escape(name)}</h1>{body}</body></html>"
        )

    @app.before_request
    def _drop_ended() -> None:
        with lock:
            if session.get("sid") in ended_sids:
                session.clear()

    @app.get("/")
    def home():  # type: ignore[no-untyped-def]
        user = session.get("user")
        if not user:
            return page(
                f"<p>Chưa đăng nhập.</p><a id='login' href='{url_for('login')}'>"
                "Đăng nhập bằng IDHub</a>"
            )
        unit = user.get("unit") or {}
        return page(
            f"<p id='who'>Xin chào <strong>{html.escape(user.get('name', ''))}</strong></p>"
            f"<p id='unit'>{html.escape(unit.get('name', ''))}</p>"
            f"<p id='roles'>{html.escape(' '.join(user.get('roles', [])))}</p>"
            f"<a id='logout' href='{url_for('logout')}'>Đăng xuất</a>"
        )

    @app.get("/login")
    def login():  # type: ignore[no-untyped-def]
        return hub.authorize_redirect(url + "/callback")

    @app.get("/callback")
    def callback():  # type: ignore[no-untyped-def]
        token = hub.authorize_access_token()  # checks state, PKCE, ID token and nonce
        claims = dict(token["userinfo"])
        claims.update(hub.userinfo(token=token))
        session["user"] = claims
        session["sid"] = claims.get("sid")
        session["id_token"] = token["id_token"]
        return redirect("/")

    @app.get("/logout")
    def logout():  # type: ignore[no-untyped-def]
        id_token = session.get("id_token")
        session.clear()
        if not id_token:
            return redirect("/")
        return hub.logout_redirect(post_logout_redirect_uri=url + "/", id_token_hint=id_token)

    @app.post("/backchannel")
    def backchannel():  # type: ignore[no-untyped-def]
        """OIDC Back-Channel Logout 1.0: verify the logout token, end that hub session here."""
        raw = request.form.get("logout_token", "")
        try:
            keys = KeySet.import_key_set(hub.fetch_jwk_set(force=True))
            claims = jwt.decode(raw, keys, algorithms=["RS256"]).claims
        except (JoseError, ValueError):
            return "invalid logout token", 400
        if (
            claims.get("iss") != issuer
            or claims.get("aud") not in (client_id, [client_id])
            or BACKCHANNEL_EVENT not in claims.get("events", {})
            or "nonce" in claims
        ):
            return "invalid logout token", 400
        with lock:
            ended_sids.add(claims.get("sid"))
        return "", 200, {"Cache-Control": "no-store"}

    users: dict[str, dict[str, Any]] = {}  # the app's own user table, by the hub's `sub`
    seen: set[str] = set()  # event ids already applied (delivery is at least once)
    app.extensions["rp_users"] = users

    def apply(event: dict[str, Any]) -> None:
        person = event["data"]["person"]
        if event["type"] == "leaver":
            users.pop(person["sub"], None)
        else:
            users[person["sub"]] = {**person, "seq": event["seq"]}
        seen.add(event["id"])

    # The table outlives a restart: every applied event is appended to a journal before
    # the hub is answered (the hub counts an answered event as delivered), and replayed
    # at start. A line torn by a kill was never answered, so the hub sends it again.
    log = None
    if journal is not None:
        if journal.exists():
            for line in journal.read_text(encoding="utf-8").splitlines():
                try:
                    apply(json.loads(line))
                except (ValueError, KeyError, TypeError):
                    continue
        journal.parent.mkdir(parents=True, exist_ok=True)
        log = journal.open("a", encoding="utf-8")
        journal.chmod(0o600)  # people's names and posts: the app's owner only
        if log.tell() and not journal.read_bytes().endswith(b"\n"):
            log.write("\n")  # end a torn line, or the next event would be glued to it

    @app.post("/events")
    def events():  # type: ignore[no-untyped-def]
        """The hub's change events (Standard Webhooks): verify, deduplicate, apply."""
        if events_secret is None:
            return "no events here", 404
        try:
            event = Webhook(events_secret).verify(request.get_data(), dict(request.headers))
        except (WebhookVerificationError, ValueError):
            return "invalid signature", 400
        with lock:
            if event["id"] in seen:
                return "", 204
            if log is not None:
                log.write(json.dumps(event, ensure_ascii=False) + "\n")
                log.flush()
            apply(event)
        return "", 204

    @app.get("/users")
    def user_table():  # type: ignore[no-untyped-def]
        with lock:
            return jsonify(sorted(users.values(), key=lambda u: u["username"]))

    return app


def main() -> int:
    url = os.environ["RP_URL"]
    app = create_rp(
        os.environ.get("RP_NAME", "Ứng dụng"),
        url,
        os.environ["RP_ISSUER"],
        os.environ["RP_CLIENT_ID"],
        os.environ["RP_CLIENT_SECRET"],
        os.environ.get("RP_EVENTS_SECRET") or None,
        Path(os.environ["RP_EVENTS_JOURNAL"]) if os.environ.get("RP_EVENTS_JOURNAL") else None,
    )
    if os.environ.get("RP_SCIM_TOKEN"):  # the documents app: its users from the hub's SCIM
        from scim_app import mount  # examples/scim_app.py, beside this script

        journal = os.environ.get("RP_EVENTS_JOURNAL")
        folder = Path(journal).parent if journal else None
        mount(app, os.environ["RP_SCIM_TOKEN"], folder, os.environ.get("RP_NAME", "Văn bản"))
    parts = urlsplit(url)
    from werkzeug.serving import run_simple

    # One access line per request would bury `make run`'s log under the demo's thousands
    # of change events; errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    run_simple(parts.hostname or "127.0.0.1", parts.port or 80, app, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
