"""Outbound SCIM (issue 19): the hub keeps an app's SCIM server in step with the people
who may use the app — an engine target like the change events (docs/scim.md)."""
