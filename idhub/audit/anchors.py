"""Audit anchors: the chain's head (event id + hash), signed and written outside the database.

The chain (idhub/changes/chain.py) shows an edited or removed event, but not events cut
off the end: the shorter chain is still a valid chain. An anchor remembers where the
chain was. It is a small JSON file, signed with an Ed25519 key from the keyring
(`audit_anchor_key`), so checking needs only the public key (`idhub audit anchor-key`),
and someone who can write the database cannot forge one. Written by the worker's clock
(idhub/scheduler/tasks.py) when the chain grew, and by `idhub audit anchor`; optionally
also to syslog. `verify_anchors` then checks that every anchored event is still there
with the same hash: an event cut off below the newest anchor is found.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import syslog
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from idhub.keyring import Keyring
from idhub.models import AuditEvent

VERSION = 1
_SIGNED = ("v", "event_id", "hash", "at", "node")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def private_key(keyring: Keyring) -> Ed25519PrivateKey:
    """The anchor signing key (made on first use, like every keyring secret)."""
    return Ed25519PrivateKey.from_private_bytes(
        base64.urlsafe_b64decode(keyring.get("audit_anchor_key"))
    )


def public_key_text(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes_raw())


def parse_public_key(text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(text.strip()))
    except ValueError as exc:
        raise ValueError("not an Ed25519 public key (base64 of 32 bytes)") from exc


def _payload(anchor: dict[str, Any]) -> bytes:
    body = {name: anchor[name] for name in _SIGNED}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def chain_head(session: Session) -> tuple[int, str] | None:
    row = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def make_anchor(key: Ed25519PrivateKey, event_id: int, hash_: str) -> dict[str, Any]:
    anchor: dict[str, Any] = {
        "v": VERSION,
        "event_id": event_id,
        "hash": hash_,
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "node": socket.gethostname(),
    }
    anchor["key"] = public_key_text(key.public_key())
    anchor["sig"] = _b64(key.sign(_payload(anchor)))
    return anchor


@dataclass(frozen=True)
class LoadedAnchor:
    path: Path
    anchor: dict[str, Any]


def load_anchors(directory: Path) -> list[LoadedAnchor]:
    """Every anchor file in `directory`, oldest chain position first. A file that is not
    an anchor is reported as one without fields (and then fails its check)."""
    found = []
    for path in sorted(directory.glob("anchor-*.json")):
        try:
            anchor = json.loads(path.read_text())
            if not isinstance(anchor, dict):
                anchor = {}
        except (OSError, ValueError):
            anchor = {}
        found.append(LoadedAnchor(path, anchor))
    return sorted(found, key=lambda a: (_event_id(a.anchor), a.path.name))


def _event_id(anchor: dict[str, Any]) -> int:
    value = anchor.get("event_id")
    return value if isinstance(value, int) else -1


class AnchorWriter:
    """Writes anchors into a folder (and to syslog when asked)."""

    def __init__(self, directory: str | os.PathLike[str], keyring: Keyring, *, to_syslog: bool):
        self.directory = Path(directory)
        self.keyring = keyring
        self.to_syslog = to_syslog

    def write(self, session: Session, *, force: bool = False) -> dict[str, Any] | None:
        """Anchor the chain's head; None when there is no event yet, or (unless `force`)
        when the newest anchor already names it."""
        head = chain_head(session)
        if head is None:
            return None
        existing = load_anchors(self.directory) if self.directory.is_dir() else []
        if not force and existing:
            newest = existing[-1].anchor
            if newest.get("event_id") == head[0] and newest.get("hash") == head[1]:
                return None
        anchor = make_anchor(private_key(self.keyring), *head)
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.directory / f"anchor-{head[0]:012d}-{stamp}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(anchor, sort_keys=True) + "\n")
        os.replace(temporary, path)  # a reader never sees half an anchor
        if self.to_syslog:
            syslog.openlog("idhub", 0, syslog.LOG_AUTHPRIV)
            syslog.syslog(syslog.LOG_NOTICE, "audit anchor " + json.dumps(anchor, sort_keys=True))
        return anchor


def _signature_ok(anchor: dict[str, Any], public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.urlsafe_b64decode(str(anchor["sig"])), _payload(anchor))
    except (KeyError, ValueError, InvalidSignature):
        return False
    return True


def verify_anchors(
    session: Session, anchors: Iterable[LoadedAnchor], public_key: Ed25519PublicKey
) -> tuple[int, list[str]]:
    """(anchors checked, problems): each anchor must be signed by `public_key` and name
    an event the chain still holds with the same hash."""
    problems: list[str] = []
    head = chain_head(session)
    last = head[0] if head else 0
    checked = 0
    for loaded in anchors:
        anchor, name = loaded.anchor, loaded.path.name
        checked += 1
        if not _signature_ok(anchor, public_key):
            problems.append(f"anchor {name}: signature does not verify with the anchor key")
            continue
        event_id = anchor["event_id"]
        if event_id > last:
            problems.append(
                f"anchor {name} names event {event_id}, but the chain ends at event {last}: "
                f"events {last + 1}..{event_id} were cut off the end"
            )
            continue
        stored = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == event_id))
        if stored is None:
            problems.append(f"anchor {name}: event {event_id} is missing from the chain")
        elif stored != anchor["hash"]:
            problems.append(
                f"anchor {name}: event {event_id} has another hash than anchored "
                "(the chain was rewritten)"
            )
    return checked, problems
