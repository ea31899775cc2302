"""The [audit] settings: where and how often the chain's head is anchored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class AuditSettings:
    SECTION: ClassVar[str] = "audit"
    anchor_dir: str  # empty: no periodic anchors
    anchor_interval_s: float
    anchor_syslog: bool
