"""What `make run` hands over in var/run/env.json beyond the stack's addresses: API clients
made once for the demo, their secrets kept (0600) under the secrets folder so that a restart
shows the same ones."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select

from idhub.changes.chain import Actor
from idhub.config import SecretsSettings
from idhub.models import OAuthClient
from idhub.services import Hub

ACTOR = Actor("system", "devstack")


def write_private(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    os.chmod(path, 0o600)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def secrets_dir(hub: Hub) -> Path:
    return Path(hub.settings.section(SecretsSettings).dir)


def kept_client(hub: Hub, filename: str, name: str, scopes: list[str]) -> dict[str, str]:
    """An API client with `scopes`, made the first time and the same one after."""
    from idhub.oidc.clients import create_client

    path = secrets_dir(hub) / filename
    saved = read_json(path)
    with hub.db.transaction() as session:
        if saved and session.scalar(
            select(OAuthClient.id).where(OAuthClient.client_id == saved["client_id"])
        ):
            return saved
        new = create_client(
            session,
            hub.keyring,
            hub.audit,
            ACTOR,
            name=name,
            scopes=scopes,
            allowed_scopes=scopes,
        )
    saved = {"client_id": new.client_id, "client_secret": new.client_secret}
    write_private(path, saved)
    return saved


def sign_on(hub: Hub, session: Any, person: Any, password: str | None = None) -> dict[str, str]:
    """Hub credentials for a demo person: `password` (or a random one) and a new TOTP
    secret, set as an activation would; the username, password and secret to hand over."""
    import secrets
    import time

    import pyotp

    from idhub.errors import Invalid
    from idhub.oidc.credentials import set_credentials
    from idhub.oidc.settings import SsoSettings

    secret = pyotp.random_base32()
    password = password or secrets.token_urlsafe(12)
    for _ in range(5):  # a random password could contain the person's name: draw again
        try:
            set_credentials(
                session,
                hub.keyring,
                hub.audit,
                hub.settings.section(SsoSettings),
                ACTOR,
                person,
                password=password,
                totp_secret=secret,
                # The previous step's code, so the code shown now works for the first sign-in.
                totp_code=pyotp.TOTP(secret).at(time.time() - 30),
            )
            break
        except Invalid:
            password = secrets.token_urlsafe(12)
    return {"username": person.username or "", "password": password, "totp_secret": secret}


def national(hub: Hub, hub_url: str) -> dict[str, str]:
    """The national exchange: where its keys are published, and a client that may list and
    fetch exports (national:exchange, nothing else)."""
    client = kept_client(
        hub, "demo_national_client.json", "Cổng dữ liệu tỉnh (demo)", ["national:exchange"]
    )
    return {"jwks_url": f"{hub_url}/national/jwks.json", **client}


def scim(hub: Hub, hub_url: str) -> dict[str, str]:
    """The SCIM server: its root, and an HR system's client that reads and writes Users
    (scim:read, scim:write; not scim:personal)."""
    client = kept_client(
        hub, "demo_scim_client.json", "Hệ thống nhân sự (SCIM, demo)", ["scim:read", "scim:write"]
    )
    return {"url": f"{hub_url}/scim/v2", **client}
