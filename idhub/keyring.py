"""Secrets generated on first start into the secrets folder (0600), and the keyed hashes they feed.

Some secrets seal or encrypt data (`DATA_KEYS`): made anew, they would not open it again
(the audit chain fails at event 1, TOTP secrets and signing keys are lost). So a missing
one is made only while the hub holds no data yet; otherwise the keyring refuses
(`MissingKeyError`, naming the key and what to do). The others (the session cookie key,
the dev slapd's password) are safely made anew.

Nodes share keys: each secret may come from the environment, as its value
(`IDHUB_KEY_<NAME>`, e.g. IDHUB_KEY_AUDIT_CHAIN_KEY) or as the path of a file holding it
(`IDHUB_KEY_<NAME>_FILE`, e.g. a systemd credential or a mounted secret), before the
secrets folder; a key given so is never written to the folder. A node whose data key
does not open the data refuses to start (idhub/oidc/keycheck.py, `KeyMismatchError`).
The OIDC signing keys live in the database, encrypted with encryption_key: nodes that
share it share them.

Client secrets and API tokens are long random values, so a keyed SHA-256 (HMAC) is
the right store for them: a stolen database alone cannot be used to check guesses,
and checking costs microseconds on the token endpoint. argon2 is for human passwords.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

# name → generator of a fresh value; every secret the hub needs is listed here.
_GENERATORS = {
    "flask_secret_key": lambda: secrets.token_urlsafe(48),
    "token_hash_key": lambda: secrets.token_urlsafe(48),
    # Seals client-credential access tokens (idhub/oidc/sealed.py): one key a line, the
    # first seals, the others still open (a rotation). Made anew, it only ends tokens.
    "token_seal_key": lambda: secrets.token_urlsafe(48),
    "audit_chain_key": lambda: secrets.token_urlsafe(48),
    "encryption_key": lambda: Fernet.generate_key().decode(),
    # Signs the audit anchors (idhub/audit/anchors.py): an Ed25519 seed, base64. Made anew,
    # only the anchors written before need the old public key to be checked.
    "audit_anchor_key": lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    "ldap_admin_password": lambda: secrets.token_urlsafe(24),  # the dev slapd's rootdn
    "ldap_hub_password": lambda: secrets.token_urlsafe(24),  # the hub's own bind
    "ldap_mail_password": lambda: secrets.token_urlsafe(24),  # the mail maps' read-only bind
    "doveadm_password": lambda: secrets.token_urlsafe(24),  # the dev Dovecot's HTTP API
}

# The secrets data depends on → what is lost without them.
DATA_KEYS = {
    "audit_chain_key": "the audit chain's seals (every event would look tampered with)",
    "encryption_key": "the TOTP secrets and the signing keys (encrypted with it)",
    "token_hash_key": "every client secret and token (stored as keyed hashes)",
}


class MissingKeyError(RuntimeError):
    """A secret the existing data depends on is missing: the hub refuses to start."""

    def __init__(self, directory: Path, names: list[str]) -> None:
        self.names = names
        lost = "; ".join(f"{name}: {DATA_KEYS[name]}" for name in names)
        super().__init__(
            f"secret {', '.join(names)} missing from {directory}, but the database already "
            f"holds data that depends on it ({lost}). Restore the file(s) from your backup "
            f"(mode 0600, owned by the hub's user) and start again; a new key would not "
            f"open the existing data. Check with `idhub keys check`."
        )


class KeyMismatchError(RuntimeError):
    """A key is present but does not open the data (another node's, or a stale copy)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "this node's keys do not open the data: "
            + "; ".join(problems)
            + ". Give it the keys the other nodes use (IDHUB_KEY_<NAME>, IDHUB_KEY_<NAME>_FILE "
            "or the secrets folder; see docs/deploy.md) and start again. Check with "
            "`idhub keys check`."
        )


KEY_NAMES = tuple(_GENERATORS)  # every secret, in a fixed order (backups, checks)
_FINGERPRINT_LABEL = b"idhub key fingerprint v1"


def fingerprint(value: str) -> str:
    """A keyed HMAC of a constant: tells two keys apart, reveals nothing of the key."""
    return hmac.new(value.encode(), _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def env_name(name: str) -> str:
    """The environment variable that gives secret `name` (its value)."""
    return f"IDHUB_KEY_{name.upper()}"


class Keyring:
    """Reads each secret from its own file, creating it (0600) the first time it is asked for.

    `holds_data` (given by the hub: does the database hold audit events or people?) is
    asked before a missing data key is made; while it says yes, the keyring refuses."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        holds_data: Callable[[], bool] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.holds_data = holds_data
        self.environ = os.environ if environ is None else environ
        self._cache: dict[str, str] = {}

    def get(self, name: str) -> str:
        if name in self._cache:
            return self._cache[name]
        if name not in _GENERATORS:
            raise KeyError(f"unknown secret {name!r}")
        value = self.read(name)
        if value is None:
            if name in DATA_KEYS and self.holds_data is not None and self.holds_data():
                raise MissingKeyError(self.directory, [name])
            value = self._create(self.directory / name, _GENERATORS[name]())
        self._cache[name] = value
        return value

    def read(self, name: str) -> str | None:
        """The secret as stored, or None when its file is missing (never creates one)."""
        if name in self._cache:
            return self._cache[name]
        given = self._given(name)
        if given is not None:
            return given
        try:
            return (self.directory / name).read_text().strip() or None
        except FileNotFoundError:
            return None

    def source(self, name: str) -> str:
        """Where secret `name` comes from (for `idhub keys check`; never the value)."""
        variable = env_name(name)
        if self.environ.get(variable):
            return f"environment {variable}"
        if self.environ.get(variable + "_FILE"):
            return f"file {self.environ[variable + '_FILE']} ({variable}_FILE)"
        return f"file {self.directory / name}"

    def _given(self, name: str) -> str | None:
        """The secret from the environment (value, or the file it names), if given there.
        A named file that is missing or empty is an error, not a reason to make a key."""
        variable = env_name(name)
        value = self.environ.get(variable, "").strip()
        if value:
            return value
        path = self.environ.get(variable + "_FILE", "")
        if not path:
            return None
        try:
            value = Path(path).read_text().strip()
        except OSError as exc:
            raise RuntimeError(
                f"{variable}_FILE names {path}, which cannot be read: {exc}"
            ) from exc
        if not value:
            raise RuntimeError(f"{variable}_FILE names {path}, which is empty")
        return value

    def missing_data_keys(self) -> list[str]:
        """The data keys whose file is missing (or empty)."""
        return [name for name in DATA_KEYS if self.read(name) is None]

    def check_start(self) -> None:
        """At start: refuse (MissingKeyError) when a data key is missing and the hub holds
        data; on a fresh install, make every key. Touches the database only when a key
        is missing."""
        missing = self.missing_data_keys()
        if missing and self.holds_data is not None and self.holds_data():
            raise MissingKeyError(self.directory, missing)
        for name in missing:
            self.get(name)

    def restore(self, name: str, value: str) -> None:
        """Write secret `name` to the secrets folder (0600) as restored from a backup; one
        already there with another value is an error (the caller decides beforehand)."""
        if name not in _GENERATORS:
            raise KeyError(f"unknown secret {name!r}")
        stored = self._create(self.directory / name, value)
        if not hmac.compare_digest(stored.encode(), value.encode()):
            raise RuntimeError(f"{self.directory / name} already holds another {name}")
        self._cache[name] = value

    def ensure_all(self) -> None:
        for name in _GENERATORS:
            self.get(name)

    def _create(self, path: Path, value: str) -> str:
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        try:
            # O_EXCL: two processes starting at once must not write two different keys.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made meanwhile by another process
            value = path.read_text().strip()
            if not value:
                raise RuntimeError(f"{path} is empty: restore it or remove it") from None
            return value
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
