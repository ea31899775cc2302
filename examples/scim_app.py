"""The documents app's own SCIM server (scim2-server), fed by the hub's outbound SCIM
target (idhub/scimout): the app keeps its user table from what the hub sends.

`mount(app, token, folder)` puts a SCIM 2.0 service at `/scim/v2` of a Flask app,
accepting only `Authorization: Bearer <token>` (RP_SCIM_TOKEN), and replaces the app's
`/users` with a server-rendered page (Vietnamese) of its users and their units. With a
folder (the app's journal folder), every write is appended to `scim-users.jsonl` and the
users are read back at start, so a restart keeps them.

    from examples.scim_app import mount
    mount(app, os.environ["RP_SCIM_TOKEN"], Path(os.environ["RP_EVENTS_JOURNAL"]).parent)
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

from flask import Flask
from scim2_models import Resource, ScimProvider, User
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)
from werkzeug.middleware.dispatcher import DispatcherMiddleware

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
FILE_NAME = "scim-users.jsonl"


class FileStorage(InMemoryStorage):
    """scim2-server's in-memory storage with a journal: every write appends one line (the
    resource as written, or its deletion), read back at start and then rewritten compact,
    so a write costs one short append however many users the app has."""

    def __init__(self, path: Path | None) -> None:
        super().__init__()
        self.path = path

    def load(self, provider: ScimProvider) -> None:
        if self.path is None:
            return
        latest: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                entry = json.loads(line)
                if "deleted" in entry:
                    latest.pop(entry["deleted"], None)
                else:
                    latest[entry["resource"]["id"]] = entry["resource"]
        found: list[Resource[Any]] = []
        for item in latest.values():
            # The resource type's model (User with its enterprise extension, Group).
            model = provider.model_for(item.get("meta", {}).get("resourceType", "User"))
            assert model is not None, item.get("meta")
            found.append(model.model_validate(item))  # type: ignore[arg-type]
        self.resources = found
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        lines = "".join(
            json.dumps({"resource": r}, ensure_ascii=False) + "\n" for r in latest.values()
        )
        temporary.write_text(lines, encoding="utf-8")
        os.chmod(temporary, 0o600)  # people's names and units: the app's owner only
        temporary.replace(self.path)

    def _append(self, entry: dict[str, Any]) -> None:
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as journal:
            journal.write(json.dumps(entry, ensure_ascii=False) + "\n")
            journal.flush()
            os.fsync(journal.fileno())

    def create(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:  # the journal in the order of the writes
            created = super().create(*args, **kwargs)
            self._append({"resource": created.model_dump(mode="json")})
        return created

    def update(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            updated = super().update(*args, **kwargs)
            self._append({"resource": updated.model_dump(mode="json")})
        return updated

    def delete(self, resource_type: Any, resource_id: str, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            deleted = super().delete(resource_type, resource_id, *args, **kwargs)
            self._append({"deleted": resource_id})
        return deleted


def scim_application(token: str, folder: Path | None) -> tuple[BearerTokenApplication, FileStorage]:
    """A SCIM 2.0 WSGI application (Users with the enterprise extension, Groups)."""
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    storage = FileStorage(folder / FILE_NAME if folder is not None else None)
    storage.load(provider)
    service = ScimService(provider)
    return BearerTokenApplication(storage, provider, service, bearer_tokens=[token]), storage


def users_of(storage: InMemoryStorage) -> list[dict[str, Any]]:
    """The app's users as plain rows: user name, name, unit, position, active."""
    rows = []
    for resource in storage.resources:
        data = resource.model_dump(mode="json")
        if str(User.__schema__) not in data.get("schemas", []):
            continue
        extension = data.get(ENTERPRISE) or {}
        rows.append(
            {
                "id": data.get("id"),
                "userName": data.get("userName"),
                "displayName": data.get("displayName") or "",
                "unit": extension.get("department") or "",
                "unitCode": extension.get("division") or "",
                "title": data.get("title") or "",
                "active": data.get("active") is not False,
            }
        )
    return sorted(rows, key=lambda r: r["userName"] or "")


def users_page(name: str, rows: list[dict[str, Any]]) -> str:
    cells = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(v))}</td>"
            for v in (
                r["userName"],
                r["displayName"],
                r["unit"],
                r["title"],
                "Đang hoạt động" if r["active"] else "Ngừng hoạt động",
            )
        )
        + "</tr>"
        for r in rows
    )
    head = "".join(
        f"<th>{h}</th>" for h in ("Tên đăng nhập", "Họ và tên", "Đơn vị", "Chức vụ", "Trạng thái")
    )
    return (
        f"<!doctype html><html lang='vi'><meta charset='utf-8'><title>{html.escape(name)}"
        f"</title><body><h1>{html.escape(name)}: người dùng</h1>"
        f"<p>{len(rows)} người dùng, đồng bộ từ IDHub qua SCIM.</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table></body></html>"
    )


def mount(app: Flask, token: str, folder: Path | None = None, name: str = "Văn bản") -> FileStorage:
    """Serve SCIM at `/scim/v2` of `app` and its users at `/users`."""
    scim, storage = scim_application(token, folder)
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/scim": scim})  # type: ignore[method-assign]

    def user_table():  # type: ignore[no-untyped-def]
        return (
            users_page(name, users_of(storage)),
            200,
            {"Content-Type": "text/html; charset=utf-8"},
        )

    if "user_table" in app.view_functions:
        app.view_functions["user_table"] = user_table
    else:
        app.add_url_rule("/users", "user_table", user_table)
    return storage


__all__ = ["FileStorage", "mount", "scim_application", "users_of", "users_page"]
