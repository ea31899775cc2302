"""Example relying-party apps of IDHub's sign-on (see examples/rp_app.py)."""
