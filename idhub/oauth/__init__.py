"""OAuth 2 provider on Authlib: client registry, token endpoint, bearer-token protection.

Protocol logic stays in Authlib; this package only fills its storage hooks.
"""
