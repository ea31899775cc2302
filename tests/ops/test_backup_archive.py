"""The archive's encryption of parts: chunked AES-GCM whose chunks cannot be cut, moved
or swapped, and keys that open only with the passphrase."""

from __future__ import annotations

import os
import struct

import pytest

from idhub.ops.backup_archive import ArchiveError, Sealer

SIZE = (1 << 20) * 2 + 12345  # three chunks, the last one short


@pytest.fixture(scope="module")
def sealer() -> Sealer:
    return Sealer.new("một cụm mật khẩu dài")


def _sealed(tmp_path, sealer):
    clear = tmp_path / "part"
    clear.write_bytes(os.urandom(SIZE))
    sealed = tmp_path / "part.sealed"
    sealer.encrypt_part("database.sqlite", clear, sealed)
    return clear, sealed


def _chunks(data: bytes) -> tuple[bytes, list[bytes]]:
    prefix, rest, chunks = data[:8], data[8:], []
    while rest:
        (length,) = struct.unpack(">I", rest[:4])
        chunks.append(rest[: 4 + length])
        rest = rest[4 + length :]
    return prefix, chunks


def test_a_part_round_trips(tmp_path, sealer):
    clear, sealed = _sealed(tmp_path, sealer)
    assert clear.read_bytes()[:4096] not in sealed.read_bytes()
    back = tmp_path / "back"
    sealer.decrypt_part("database.sqlite", sealed, back)
    assert back.read_bytes() == clear.read_bytes()


@pytest.mark.parametrize("how", ["cut", "swap", "renamed", "other passphrase"])
def test_a_changed_part_does_not_open(tmp_path, sealer, how):
    _, sealed = _sealed(tmp_path, sealer)
    prefix, chunks = _chunks(sealed.read_bytes())
    assert len(chunks) == 3
    name, opener = "database.sqlite", sealer
    if how == "cut":
        chunks = chunks[:2]
    elif how == "swap":
        chunks = [chunks[1], chunks[0], chunks[2]]
    elif how == "renamed":
        name = "directory.ldif"
    else:
        opener = Sealer.for_archive("another passphrase!", sealer.kdf)
    sealed.write_bytes(prefix + b"".join(chunks))
    with pytest.raises(ArchiveError, match="does not decrypt"):
        opener.decrypt_part(name, sealed, tmp_path / "back")


def test_keys_open_only_with_the_passphrase(sealer):
    blob = sealer.seal_keys({"audit_chain_key": "bí mật"})
    assert b"audit_chain_key" not in blob
    assert Sealer.for_archive("một cụm mật khẩu dài", sealer.kdf).open_keys(blob) == {
        "audit_chain_key": "bí mật"
    }
    with pytest.raises(ArchiveError, match="wrong passphrase"):
        Sealer.for_archive("một cụm mật khẩu khác", sealer.kdf).open_keys(blob)


def test_a_short_passphrase_is_refused():
    with pytest.raises(ArchiveError, match="at least 12"):
        Sealer.new("ngắn")
