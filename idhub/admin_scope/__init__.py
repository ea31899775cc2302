"""Delegated administration: administrative roles over unit subtrees, and what they see.

A floor room: every wing's service functions and API narrow what they read and write to
the request's `Scope` (`scope.py`); `grants.py` says which roles a person or an API
client holds today (by hand, by rule, province-wide app roles); `visible.py` turns a
scope into SQL filters and 404s.
"""
