"""The sign-on's settings: API tokens ([oauth]) and the OpenID provider ([sso])."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from idhub.config import ConfigError

# The longest a one-time link may live: whoever holds it holds the account until then.
MAX_ACTIVATION_LINK_TTL_S = 86400
MAX_RESET_LINK_TTL_S = 3600


@dataclass(frozen=True)
class OAuthSettings:
    SECTION: ClassVar[str] = "oauth"
    access_token_ttl_s: int
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class SsoSettings:
    SECTION: ClassVar[str] = "sso"
    issuer: str  # empty: the server's public URL
    code_ttl_s: int
    access_token_ttl_s: int
    id_token_ttl_s: int
    refresh_token_ttl_s: int
    session_ttl_s: int
    session_idle_s: int  # a hub session unused this long ends
    key_overlap_s: int
    scopes: tuple[str, ...]
    lockout_threshold: int  # wrong passwords for one account from one source, then a lock
    lockout_s: int  # the first lock; each lock in a row doubles, up to lockout_max_s
    lockout_max_s: int
    code_lockout_threshold: int  # wrong second-factor codes for one account, any source
    failure_audit_window_s: int  # one audit event per account per window, with the count
    ip_failures_per_window: int
    ip_window_s: int
    argon2_time_cost: int
    argon2_memory_kib: int
    argon2_parallelism: int
    password_min_length: int
    activation_link_ttl_s: int  # ≤ 24 h
    reset_link_ttl_s: int  # ≤ 1 h
    resets_per_client_per_hour: int
    resets_per_person_per_day: int
    cookie_secure: str  # "auto", "true" or "false"
    default_locale: str
    totp_issuer: str
    backchannel_timeout_s: float

    def __post_init__(self) -> None:
        for name, ceiling in (
            ("activation_link_ttl_s", MAX_ACTIVATION_LINK_TTL_S),
            ("reset_link_ttl_s", MAX_RESET_LINK_TTL_S),
        ):
            value = getattr(self, name)
            if not 0 < value <= ceiling:
                raise ConfigError(f"settings [sso] {name} must be between 1 and {ceiling}")
