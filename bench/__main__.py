"""`python -m bench [SUITE] [options]`, SUITE one of SUITES below, each in bench/<suite>.py.
With no suite, runs them all with their defaults."""

from __future__ import annotations

import importlib
import sys

SUITES = (
    "provisioning",
    "restructure",
    "sso",
    "mail",
    "outage",
    "signin_flood",
    "flat",
    "app_passwords",
    "events",
    "admin_scope",
    "console_import",
    "console",
    "scim",
)

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] in SUITES:
        sys.exit(importlib.import_module(f"bench.{args[0]}").main(args[1:]))
    if args and not args[0].startswith("-"):
        sys.exit(f"unknown suite {args[0]!r}; choose from {', '.join(SUITES)}")
    for suite in SUITES:  # options without a suite go to the provisioning benchmark
        code = importlib.import_module(f"bench.{suite}").main(args if suite == SUITES[0] else [])
        if code:
            sys.exit(code)
