"""Adapters to the target systems (LDAP, mail, apps) behind one small interface (base.py)."""
