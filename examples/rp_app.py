"""A reference app signing people in with IDHub, of one kind (RP_KIND):

* ``documents`` (Văn bản): signs people in, keeps its own user table from the hub's
  change events (examples/rp_base.py);
* ``meetings`` (Họp trực tuyến): the person's meeting roles per unit, delegation
  honoured (examples/meetings.py);
* ``personnel`` (Nhân sự): an HR officer records joiners, moves and leavers through the
  hub's API with their own token (examples/personnel.py).

`make run` starts the three on the ports after the hub's. One sign-in at the hub serves
all three (single sign-on); signing out of one ends the hub session and the others learn
it by back-channel logout. docs/apps.md describes the contract.

    python examples/rp_app.py   # configured by RP_KIND, RP_NAME, RP_URL, RP_ISSUER,
                                # RP_CLIENT_ID, RP_CLIENT_SECRET, RP_EVENTS_SECRET,
                                # RP_EVENTS_JOURNAL
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import meetings, personnel  # noqa: E402
from examples.rp_base import Kind, create_rp, run  # noqa: E402

KINDS: dict[str, Kind] = {
    "documents": Kind(),
    "meetings": meetings.KIND,
    "personnel": personnel.KIND,
}

__all__ = ["KINDS", "create_rp", "kind_named"]


def kind_named(name: str) -> Kind:
    if name not in KINDS:
        raise SystemExit(f"RP_KIND must be one of {', '.join(KINDS)}, not {name!r}")
    return KINDS[name]


def main() -> int:
    url = os.environ["RP_URL"]
    app = create_rp(
        os.environ.get("RP_NAME", "Ứng dụng"),
        url,
        os.environ["RP_ISSUER"],
        os.environ["RP_CLIENT_ID"],
        os.environ["RP_CLIENT_SECRET"],
        os.environ.get("RP_EVENTS_SECRET") or None,
        Path(os.environ["RP_EVENTS_JOURNAL"]) if os.environ.get("RP_EVENTS_JOURNAL") else None,
        kind=kind_named(os.environ.get("RP_KIND", "documents")),
    )
    if os.environ.get("RP_SCIM_TOKEN"):  # the documents app: its users from the hub's SCIM
        from examples.scim_app import mount

        journal = os.environ.get("RP_EVENTS_JOURNAL")
        folder = Path(journal).parent if journal else None
        mount(app, os.environ["RP_SCIM_TOKEN"], folder, os.environ.get("RP_NAME", "Văn bản"))
    run(app, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
