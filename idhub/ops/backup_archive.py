"""The backup archive: a tar of parts, the keys sealed with a passphrase, and a
manifest that says what is inside, authenticated with the same passphrase.

Keys: scrypt (n=2^15, r=8, p=1, a random salt) turns the passphrase into 96 bytes: an
AES-256-GCM key that seals the keyring's secrets (`keys.enc`), an HMAC key over the
manifest (`manifest.mac`), and an AES-256-GCM key for the parts. The parts (the
database, the LDIF: personal data, password hashes) are encrypted too, in 1 MiB chunks
(each compressed first: encrypted data does not compress), each sealed with the part's
name, its number and whether it is the last (a chunk moved, cut or swapped does not
open). The manifest, in clear (versions, counts, the chain head; no secret), holds the
SHA-256 of every other file, so a changed part, a changed manifest or a wrong
passphrase is found before anything is restored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import secrets
import struct
import tarfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

FORMAT = "idhub-backup/1"
MANIFEST, MANIFEST_MAC, KEYS = "manifest.json", "manifest.mac", "keys.enc"
_AAD = b"idhub-backup-keys/1"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
MIN_PASSPHRASE = 12


class ArchiveError(Exception):
    """The archive cannot be used (wrong passphrase, altered, not a backup)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _derive(passphrase: str, kdf: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    try:
        salt = base64.b64decode(kdf["salt"])
        material = Scrypt(salt=salt, length=96, n=kdf["n"], r=kdf["r"], p=kdf["p"]).derive(
            passphrase.encode()
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(f"the archive's key derivation settings are damaged: {exc}") from exc
    return material[:32], material[32:64], material[64:]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Sealer:
    """The keys derived from a passphrase, for one archive."""

    kdf: dict[str, Any]
    enc_key: bytes
    mac_key: bytes
    part_key: bytes

    @classmethod
    def new(cls, passphrase: str) -> Sealer:
        if len(passphrase) < MIN_PASSPHRASE:
            raise ArchiveError(f"the passphrase must be at least {MIN_PASSPHRASE} characters")
        kdf = {"name": "scrypt", **SCRYPT, "salt": _b64(secrets.token_bytes(16))}
        return cls(kdf, *_derive(passphrase, kdf))

    @classmethod
    def for_archive(cls, passphrase: str, kdf: Mapping[str, Any]) -> Sealer:
        return cls(dict(kdf), *_derive(passphrase, kdf))

    def seal_keys(self, keys: Mapping[str, str]) -> bytes:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.enc_key).encrypt(nonce, json.dumps(dict(keys)).encode(), _AAD)
        box = {"cipher": "AES-256-GCM", "nonce": _b64(nonce), "data": _b64(sealed)}
        return json.dumps(box).encode()

    def open_keys(self, blob: bytes) -> dict[str, str]:
        try:
            box = json.loads(blob)
            plain = AESGCM(self.enc_key).decrypt(
                base64.b64decode(box["nonce"]), base64.b64decode(box["data"]), _AAD
            )
        except InvalidTag:
            raise ArchiveError(
                "wrong passphrase: the keys in the archive do not open with it"
            ) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ArchiveError(f"the archive's keys part is damaged: {exc}") from exc
        keys = json.loads(plain)
        return {str(k): str(v) for k, v in keys.items()}

    def mac(self, manifest: bytes) -> str:
        return hmac.new(self.mac_key, manifest, hashlib.sha256).hexdigest()

    def encrypt_part(self, name: str, src: Path, dst: Path) -> None:
        """`src` → `dst`: a random 8-byte prefix, then (length, AES-GCM chunk) pairs."""
        aead, prefix = AESGCM(self.part_key), secrets.token_bytes(8)
        with src.open("rb") as fin, dst.open("wb") as fout:
            fout.write(prefix)
            chunk, index = fin.read(_CHUNK), 0
            while True:
                following = fin.read(_CHUNK)
                last = not following
                nonce = prefix + struct.pack(">I", index)
                plain = zlib.compress(chunk)
                sealed = aead.encrypt(nonce, plain, _chunk_aad(name, index, last))
                fout.write(struct.pack(">I", len(sealed)) + sealed)
                if last:
                    return
                chunk, index = following, index + 1

    def decrypt_part(self, name: str, src: Path, dst: Path) -> None:
        aead = AESGCM(self.part_key)
        with src.open("rb") as fin, dst.open("wb") as fout:
            prefix, index = fin.read(8), 0
            header = fin.read(4)
            while len(header) == 4:
                sealed = fin.read(struct.unpack(">I", header)[0])
                header = fin.read(4)
                last = not header
                try:
                    nonce = prefix + struct.pack(">I", index)
                    plain = aead.decrypt(nonce, sealed, _chunk_aad(name, index, last))
                    fout.write(zlib.decompress(plain))
                except (InvalidTag, zlib.error):
                    raise ArchiveError(f"part {name} does not decrypt: altered") from None
                index += 1
            if index == 0 or header:
                raise ArchiveError(f"part {name} is cut short")


_CHUNK = 1 << 20


def _chunk_aad(name: str, index: int, last: bool) -> bytes:
    return f"{FORMAT}|{name}|{index}|{int(last)}".encode()


def write_archive(
    dest: Path, parts: Mapping[str, Path], manifest: dict[str, Any], sealer: Sealer, keys: bytes
) -> None:
    """Write the tar: the parts (encrypted), keys.enc, the manifest (with every file's
    hash) and its MAC; first to a temporary file beside `dest` (0600), then renamed."""
    sealed = {}
    for name, path in parts.items():
        sealed[name] = path.with_name(path.name + ".sealed")
        sealer.encrypt_part(name, path, sealed[name])
        path.unlink()  # the clear copy goes as soon as it is sealed
    parts = sealed
    hashes = {
        name: {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        for name, path in parts.items()
    }
    hashes[KEYS] = {"sha256": hashlib.sha256(keys).hexdigest(), "bytes": len(keys)}
    manifest = {**manifest, "format": FORMAT, "kdf": sealer.kdf, "parts": hashes}
    body = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode()
    temporary = dest.with_name(dest.name + ".partial")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        _add_bytes(tar, MANIFEST, body)
        _add_bytes(tar, MANIFEST_MAC, sealer.mac(body).encode())
        _add_bytes(tar, KEYS, keys)
        for name, path in parts.items():
            tar.add(path, arcname=name, recursive=False)
    os.replace(temporary, dest)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o600
    tar.addfile(info, io.BytesIO(data))


@dataclass
class OpenedArchive:
    manifest: dict[str, Any]
    keys: dict[str, str]
    folder: Path  # where the parts were extracted

    def part(self, name: str) -> Path:
        return self.folder / name


def open_archive(src: Path, passphrase: str, into: Path) -> OpenedArchive:
    """Extract `src` into `into` and check it: the passphrase opens the keys, the
    manifest's MAC holds, every part has the manifest's hash and nothing else is there."""
    try:
        with tarfile.open(src, mode="r:*") as tar:
            tar.extractall(into, filter="data")
    except (OSError, tarfile.TarError) as exc:
        raise ArchiveError(f"{src} is not a readable backup archive: {exc}") from exc
    try:
        body = (into / MANIFEST).read_bytes()
        manifest = json.loads(body)
        mac = (into / MANIFEST_MAC).read_text().strip()
    except (OSError, ValueError) as exc:
        raise ArchiveError(f"{src} has no readable manifest: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(f"{src} is not an IDHub backup ({FORMAT})")
    sealer = Sealer.for_archive(passphrase, manifest.get("kdf") or {})
    keys = sealer.open_keys((into / KEYS).read_bytes()) if (into / KEYS).exists() else None
    if keys is None:
        raise ArchiveError(f"{src} has no keys part")
    if not hmac.compare_digest(sealer.mac(body).encode(), mac.encode()):
        raise ArchiveError("the manifest was altered: its MAC does not match (archive tampered)")
    listed = manifest.get("parts") or {}
    present = {p.name for p in into.iterdir()} - {MANIFEST, MANIFEST_MAC}
    if present != set(listed):
        raise ArchiveError(
            f"the archive's parts {sorted(present)} are not the manifest's {sorted(listed)}"
        )
    for name, facts in listed.items():
        if not hmac.compare_digest(
            sha256_file(into / name).encode(), str(facts.get("sha256")).encode()
        ):
            raise ArchiveError(f"part {name} was altered: its SHA-256 is not the manifest's")
    clear = into / "clear"
    clear.mkdir(mode=0o700)
    for name in listed:
        if name != KEYS:
            sealer.decrypt_part(name, into / name, clear / name)
    return OpenedArchive(manifest, keys, clear)
