"""The mail target's plan: what Dovecot must do for one person (a pure function).

The directory already holds everything Postfix and Dovecot read (address, aliases,
mailbox location, quota, status, forward or bounce: see policy). The mail target only
does what a directory write cannot:

* enabled account with a mailbox location and no mailbox yet → CREATE (INBOX, with the
  quota checked); it already exists → nothing, or ENABLE when it was last left disabled
  (a cached refusal is flushed);
* disabled account, not yet shut out on the mail server → DISABLE (auth cache flushed,
  sessions kicked: login fails at once, not when the cache expires); already shut out
  but its entry changed (`entry_changed`: the directory wrote it, or the mail target
  asks to shut it out again) → DISABLE again: the flush is what makes Dovecot see the
  directory's state, and a login that read the entry before the directory's change can
  have put an acceptance back in the cache after an earlier flush;
* absent account (retention over) with a mailbox → DELETE (exported to an archive
  first, then removed);
* an enabled account whose directory entry changed (`entry_changed`) → MODIFY: Dovecot's
  cached lookup of the user is flushed, so a new quota applies at once, not after
  auth_cache_ttl; with `end_sessions` (an app password the directory no longer
  accepts) its open sessions are kicked too (attribute `kick`);
* an account that lost its address (no mail domain any more) keeps its mailbox: mail is
  never deleted before retention says so.

`was_enabled` is what the hub recorded the last time this target converged (None:
never): Dovecot's cache state cannot be read back, so the record stands in for it.
"""

from __future__ import annotations

from connectors.base import Account, AccountKey, Operation, OpKind
from connectors.dn import rdn_value
from provisioning.model import AccountState, DesiredAccount

__all__ = ["plan_delegations", "plan_mailbox"]


def plan_mailbox(
    desired: DesiredAccount,
    actual: Account | None,
    *,
    was_enabled: bool | None,
    entry_changed: bool = False,
    end_sessions: bool = False,
) -> list[Operation]:
    key = AccountKey(desired.person_id)
    user = desired.attributes.get("uid", ()) or ((rdn_value(desired.name) or ""),)
    who = {"user": user}
    headline = desired.reasons[0] if desired.reasons else str(desired.state)
    if desired.state is AccountState.ABSENT:
        if actual is None:
            return []
        return [
            Operation(
                OpKind.DELETE,
                key,
                name=actual.name,
                current=actual.name,
                attributes=who,
                reason=f"mailbox archived and deleted ({headline})",
            )
        ]
    location = desired.attributes.get("idhubMailbox", ())
    ops: list[Operation] = []
    if desired.state is AccountState.ENABLED:
        if location and actual is None:
            quota = desired.attributes.get("idhubMailQuota", ())
            ops.append(
                Operation(
                    OpKind.CREATE,
                    key,
                    name=location[0],
                    attributes={**who, **({"quota": quota} if quota else {})},
                    reason=f"new mailbox ({headline})",
                )
            )
        elif actual is not None and was_enabled is False:
            ops.append(
                Operation(OpKind.ENABLE, key, current=actual.name, attributes=who, reason=headline)
            )
        elif actual is not None and (entry_changed or end_sessions):
            ops.append(
                Operation(
                    OpKind.MODIFY,
                    key,
                    current=actual.name,
                    attributes={**who, "kick": ("yes",)} if end_sessions else who,
                    reason="directory entry changed: Dovecot's cached lookup is refreshed "
                    "(quota, aliases apply now)"
                    + (
                        "; mail sessions ended (an app password was revoked)"
                        if end_sessions
                        else ""
                    ),
                )
            )
    elif was_enabled is not False or entry_changed:  # not yet shut out there, or again
        ops.append(
            Operation(
                OpKind.DISABLE,
                key,
                current=actual.name if actual else None,
                attributes=who,
                reason=f"sign-in stops at once: auth cache flushed, sessions ended ({headline})",
            )
        )
    return ops


def plan_delegations(
    desired: DesiredAccount,
    actual: Account | None,
    *,
    deputies: frozenset[str],
    managed: frozenset[str],
    current: frozenset[str],
    rights: tuple[str, ...] = (),
) -> list[Operation]:
    """ACL changes on the owner's mailbox for the delegations (ủy quyền) running today.

    `deputies`: uids that may read the mailbox today; `managed`: every uid the hub ever
    delegated this mailbox to (its range: access someone granted by hand is left
    alone); `current`: the uids the mailbox's ACL names now. Nothing for an account that
    is to be deleted or has no mailbox. `rights` (Dovecot ACL rights) replaces the
    connector's read-only default, e.g. for the holders of a seat mailbox.
    """
    if desired.state is AccountState.ABSENT or actual is None:
        return []
    grant = sorted(deputies - current)
    revoke = sorted((current & managed) - deputies)
    if not grant and not revoke:
        return []
    user = desired.attributes.get("uid", ()) or ((rdn_value(desired.name) or ""),)
    notes = [f"delegated to {d}" for d in grant] + [f"delegation to {d} ended" for d in revoke]
    return [
        Operation(
            OpKind.MODIFY,
            AccountKey(desired.person_id),
            current=actual.name,
            attributes={
                "user": user,
                "acl_grant": tuple(grant),
                "acl_revoke": tuple(revoke),
                **({"acl_rights": rights} if rights else {}),
            },
            reason="; ".join(notes),
        )
    ]
