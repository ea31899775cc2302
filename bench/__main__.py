"""`python -m bench [provisioning|restructure] [options]`: see bench/provisioning.py and
bench/restructure.py. With no suite, runs both with their defaults."""

from __future__ import annotations

import sys

from bench import provisioning, restructure

SUITES = {"provisioning": provisioning.main, "restructure": restructure.main}

if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] in SUITES:
        sys.exit(SUITES[args[0]](args[1:]))
    if args and not args[0].startswith("-"):
        sys.exit(f"unknown suite {args[0]!r}; choose from {', '.join(SUITES)}")
    sys.exit(provisioning.main(args) or (restructure.main([]) if not args else 0))
