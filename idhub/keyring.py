"""Secrets generated on first start into the secrets folder (0600), and the keyed hashes they feed.

Client secrets and API tokens are long random values, so a keyed SHA-256 (HMAC) is
the right store for them: a stolen database alone cannot be used to check guesses,
and checking costs microseconds on the token endpoint. argon2 is for human passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

# name → generator of a fresh value; every secret the hub needs is listed here.
_GENERATORS = {
    "flask_secret_key": lambda: secrets.token_urlsafe(48),
    "token_hash_key": lambda: secrets.token_urlsafe(48),
    "audit_chain_key": lambda: secrets.token_urlsafe(48),
    "encryption_key": lambda: Fernet.generate_key().decode(),
    "ldap_admin_password": lambda: secrets.token_urlsafe(24),
    "doveadm_password": lambda: secrets.token_urlsafe(24),  # the dev Dovecot's HTTP API
}


class Keyring:
    """Reads each secret from its own file, creating it (0600) the first time it is asked for."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._cache: dict[str, str] = {}

    def get(self, name: str) -> str:
        if name in self._cache:
            return self._cache[name]
        if name not in _GENERATORS:
            raise KeyError(f"unknown secret {name!r}")
        path = self.directory / name
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            value = self._create(path, _GENERATORS[name]())
        self._cache[name] = value
        return value

    def ensure_all(self) -> None:
        for name in _GENERATORS:
            self.get(name)

    def _create(self, path: Path, value: str) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        try:
            # O_EXCL: two processes starting at once must not write two different keys.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            fh.write(value + "\n")
        return value

    # -- derived helpers -------------------------------------------------------------
    def token_hash(self, value: str) -> str:
        """Keyed SHA-256 of a client secret or token, as stored in the database."""
        key = self.get("token_hash_key").encode()
        return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, value: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.token_hash(value), stored_hash)

    def encrypt(self, plaintext: str) -> str:
        return Fernet(self.get("encryption_key").encode()).encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return Fernet(self.get("encryption_key").encode()).decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong key or damaged value") from exc
