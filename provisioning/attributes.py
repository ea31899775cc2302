"""Attribute values as the policy writes them: NFC-normalised, empty values dropped."""

from __future__ import annotations

import unicodedata

__all__ = ["TRUE", "nfc", "values"]

TRUE = "TRUE"


def nfc(value: str) -> str:
    """NFC only (unlike provisioning.naming.nfc, white space is kept as HR wrote it)."""
    return unicodedata.normalize("NFC", value)


def values(*items: str | None) -> tuple[str, ...]:
    """NFC, with empty values dropped (an empty tuple means "must be absent")."""
    return tuple(nfc(v) for v in items if v)
