"""Demo data for `idhub demo load`: one real province after the 2025 reform, synthetic staff.

The province data comes from the optional GPL-3.0 ``vietnam_provinces`` package, which is
imported only when :func:`load_demo` runs.
"""

from idhub.ops.demo.load import (
    DEMO_ACTOR,
    DemoAlreadyLoaded,
    DemoError,
    DemoSummary,
    DemoUnavailable,
    load_demo,
)

__all__ = [
    "DEMO_ACTOR",
    "DemoAlreadyLoaded",
    "DemoError",
    "DemoSummary",
    "DemoUnavailable",
    "load_demo",
]
