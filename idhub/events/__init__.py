"""Signed change events to the apps (issue 19): joiner, mover, leaver and role change per
person, converged against what each app was last told, signed with Standard Webhooks and
delivered by the engine's worker loop as a target (see docs/events.md)."""
