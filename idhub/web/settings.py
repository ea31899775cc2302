"""The web's settings: where the hub is served and reached, and the API's paging and retries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class ServerSettings:
    SECTION: ClassVar[str] = "server"
    host: str
    port: int
    workers: int
    # Networks of the reverse proxies in front (CIDR): X-Forwarded-For/-Proto/-Host are
    # honoured only from them, and the client is the rightmost address not among them.
    trusted_proxies: tuple[str, ...]
    public_url: str


@dataclass(frozen=True)
class ApiSettings:
    SECTION: ClassVar[str] = "api"
    page_size_default: int
    page_size_max: int
    idempotency_ttl_h: int
