"""Settings of running the hub in development: the throwaway slapd and the demo data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class DevSlapdSettings:
    SECTION: ClassVar[str] = "dev_slapd"
    enabled: bool
    dir: str
    admin_dn: str


@dataclass(frozen=True)
class DemoSettings:
    SECTION: ClassVar[str] = "demo"
    province: int
    staff: int
    seed: int
