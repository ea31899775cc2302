"""The national exchange's settings ([national]): where exports are pushed, if anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from idhub.config import ConfigError


@dataclass(frozen=True)
class NationalSettings:
    SECTION: ClassVar[str] = "national"
    # The province's data-integration platform; empty: exports stay files to fetch.
    push_url: str
    # A file holding the bearer token the platform gave the hub (never in the config).
    push_token_file: str
    # The CA that signed the platform's certificate, when not in the system's store.
    push_ca_file: str
    push_timeout_s: float

    def __post_init__(self) -> None:
        if self.push_url and urlsplit(self.push_url).scheme != "https":
            raise ConfigError("national.push_url: must be an https:// URL")
        if self.push_timeout_s <= 0:
            raise ConfigError("national.push_timeout_s: must be positive")

    @property
    def pushing(self) -> bool:
        return bool(self.push_url)

    def token(self) -> str | None:
        """The bearer token, read when the worker starts (a rotated file is picked up on
        restart)."""
        if not self.push_token_file:
            return None
        token = Path(self.push_token_file).read_text(encoding="utf-8").strip()
        if token and not (token.isascii() and token.isprintable()):
            # It goes in an HTTP header: refused here rather than at every push.
            raise ConfigError("national.push_token_file: the token must be printable ASCII")
        return token or None
