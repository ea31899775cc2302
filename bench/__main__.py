"""`python -m bench [provisioning|sso] …`: see bench/provisioning.py and bench/sso.py."""

from __future__ import annotations

import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["sso"]:
        from bench.sso import main as sso_main

        sys.exit(sso_main(sys.argv[2:]))
    from bench.provisioning import main

    sys.exit(main(sys.argv[1:]))
