"""`python -m bench [provisioning] [--people N]`: see bench/provisioning.py."""

from __future__ import annotations

import sys

from bench.provisioning import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
