"""Group membership, kept on the member: one member's changes written to its
idhubMemberOf, and the hub groups (groupOfURLs) they name made on first use.

idhub/defaults/ldap/slapd.conf.tmpl explains why membership lives on the member: a hub group's
memberURL selects the entries naming it, and slapd's dynlist overlay expands it into
`member` (and `memberOf` on the members) for other clients, so a move, rename or delete
of a person never writes to a group.
"""

from __future__ import annotations

import contextlib

import ldap
import ldap.filter
import ldapurl

from connectors.base import (
    AccountKey,
    Conflict,
    ConnectorError,
    InvalidData,
    Operation,
    OpKind,
    Result,
    TargetUnavailable,
)
from connectors.dn import normalize_dn, rdn_and_parent, str2dn
from connectors.ldap.batch import Batch, Memberships, Mods, Vanished, member_mods, modifier
from connectors.ldap.connection import map_error
from connectors.ldap.entries import MEMBER_ATTRIBUTE, Encoded


class MemberWriter:
    """Writes one member's changes to its own entry, in one modify."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def write(self, target: AccountKey, changes: Memberships) -> None:
        """One member's changes in one modify of its own entry. A retried batch may find
        some already done: then the attribute is replaced by the result, worked out
        from what the entry holds now."""
        batch = self.batch
        indexes = [i for m in changes.values() for i in m.ops]
        op = batch.ops[max(indexes)]  # the last word's operation: the DN after the plan
        if target in batch.located and batch.located[target] is None:
            batch.member_results(changes.values(), None)  # deleted in this batch: done
            return
        dn: str | None = None
        try:
            try:
                dn = batch.at_entry(op, modifier(member_mods(changes.values())))
            except (ldap.TYPE_OR_VALUE_EXISTS, ldap.NO_SUCH_ATTRIBUTE):
                dn = self._replace(op, changes)
        except Vanished:
            if all(not m.add for m in changes.values()):
                batch.member_results(changes.values(), None)  # no entry, no membership
            else:
                error = Conflict(f"{batch.what(op)}: the member does not exist")
                batch.member_results(changes.values(), error)
            return
        except TargetUnavailable:
            raise
        except ConnectorError as exc:
            batch.member_results(changes.values(), exc)
            return
        except ValueError as exc:
            batch.member_results(changes.values(), InvalidData(f"{batch.what(op)}: {exc}"))
            return
        except ldap.LDAPError as exc:
            batch.member_results(changes.values(), map_error(exc, batch.what(op, dn)))
            return
        batch.member_results(changes.values(), None)

    def _replace(self, op: Operation, changes: Memberships) -> str:
        batch = self.batch
        dn = batch.current(op) or batch.reader.find(op.target)
        if dn is None:
            raise Vanished
        entry = batch.reader.read_entry(dn, [MEMBER_ATTRIBUTE])  # the key is asserted below
        if entry is None:
            raise Vanished
        held = {normalize_dn(v): v for v in entry.get(MEMBER_ATTRIBUTE.casefold(), ("", ()))[1]}
        for norm, change in changes.items():
            if change.add:
                held.setdefault(norm, change.group_dn)
            else:
                held.pop(norm, None)
        values = [v.encode("utf-8") for v in held.values()] or None
        mods: Mods = [(ldap.MOD_REPLACE, MEMBER_ATTRIBUTE, values)]
        return batch.at_entry(op, modifier(mods))


class GroupMaker:
    """Makes sure the groups a batch added members to exist as hub groups."""

    def __init__(self, batch: Batch, known: set[str]) -> None:
        self.batch = batch
        # Normalised DNs of hub groups known to exist as groupOfURLs (the connector's,
        # kept across batches), so a batch ensures only groups it has not seen.
        self.known = known

    def ensure_all(self, groups: dict[str, str]) -> None:
        """Every group this batch added someone to exists as a hub groupOfURLs; the
        additions to a group that cannot be made fail with its reason."""
        for norm, group in groups.items():
            if norm in self.known:
                continue
            try:
                self._ensure(group)
            except TargetUnavailable:
                raise
            except ConnectorError as exc:
                self._fail_additions(norm, exc)
                continue
            except (ldap.LDAPError, ValueError) as exc:
                what = f"{self.batch.name}: create group {group}"
                error = (
                    map_error(exc, what)
                    if isinstance(exc, ldap.LDAPError)
                    else (InvalidData(f"{what}: {exc}"))
                )
                self._fail_additions(norm, error)
                continue
            self.known.add(norm)

    def _fail_additions(self, norm: str, error: ConnectorError) -> None:
        batch = self.batch
        for index, op in enumerate(batch.ops):
            if op.kind is not OpKind.ADD_MEMBER or op.group is None:
                continue
            with contextlib.suppress(ValueError):
                if normalize_dn(op.group) == norm:
                    batch.results[index] = Result(op, error, name=op.group)

    def _ensure(self, group: str) -> None:
        """Create the hub group (groupOfURLs over idhubMemberOf) unless it is there. A
        hub group of the earlier static kind (groupOfNames) is replaced: its members
        are named by their own entries now."""
        batch = self.batch
        what = f"{batch.name}: create group {group}"
        entry = group_entry(group, batch.connection.config.base_dn)
        try:
            batch.raw(what, lambda c: c.add_s(group, entry))
            return
        except ldap.ALREADY_EXISTS:
            pass
        except ldap.NO_SUCH_OBJECT as exc:
            _, parent = rdn_and_parent(group)
            raise Conflict(f"{what}: the parent {parent} does not exist") from exc
        found = batch.reader.read_entry(group, ["objectClass", "idhubManaged"])
        if found is None:  # deleted meanwhile
            batch.raw(what, lambda c: c.add_s(group, entry))
            return
        classes = {v.casefold() for v in found.get("objectclass", ("", ()))[1]}
        managed = {v.casefold() for v in found.get("idhubmanaged", ("", ()))[1]} == {"true"}
        if "groupofurls" in classes and "idhubgroup" in classes:
            return
        if not (managed and "idhubgroup" in classes):
            raise Conflict(f"{what}: the name is taken by an entry the hub does not manage")
        batch.raw(what, lambda c: c.delete_s(group))  # an earlier static hub group
        batch.raw(what, lambda c: c.add_s(group, entry))


def group_entry(group: str, base_dn: str) -> Encoded:
    """A hub group: its members are the entries under the base naming it in
    idhubMemberOf (slapd's dynlist lists them as `member`)."""
    rdn, _parent = rdn_and_parent(group)
    entry: dict[str, list[bytes]] = {
        "objectClass": [b"top", b"groupOfURLs", b"idhubGroup"],
        "idhubManaged": [b"TRUE"],
    }
    for attr, value, _flags in str2dn(rdn)[0]:
        entry.setdefault(attr, []).append((value or "").encode("utf-8"))
    flt = f"({MEMBER_ATTRIBUTE}={ldap.filter.escape_filter_chars(group)})"
    url = ldapurl.LDAPUrl(dn=base_dn, scope=ldap.SCOPE_SUBTREE, filterstr=flt)
    entry["memberURL"] = [url.unparse().encode("utf-8")]
    return list(entry.items())
