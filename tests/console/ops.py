"""Helpers of the console's change-set, jobs and audit tests: a small province to
reorganise (as tests/reorg builds it), the CSRF token of a page, the change-set form."""

from __future__ import annotations

import re

from tests.reorg.test_reorg import DECISION, _tree

__all__ = ["DECISION", "csrf", "merge_form", "province_tree"]


def province_tree(api):  # type: ignore[no-untyped-def]
    """Province 12 › district 105 › communes 3460, 3461, 3462, one person in each."""
    return _tree(api)


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:2000]
    return found.group(1)


def merge_form(token: str, **decision: str) -> dict[str, str]:
    """The change-set form merging communes 3460 and 3461 into a new 3470 under 12."""
    return {
        "csrf_token": token,
        **DECISION,
        "description": "",
        **decision,
        "op_0": "merge",
        "units_0": "3460; 3461",
        "into_0": "3470",
        "name_0": "Ủy ban nhân dân xã Bình Lư",
        "type_0": "commune_committee",
        "parent_0": "12",
    }
