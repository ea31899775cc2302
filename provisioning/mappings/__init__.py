"""The policy's mappings: each owns a range of the desired account and produces only that.

A mapping reads the snapshot and the rules (and what an earlier mapping decided) and
returns values for the attributes in its ``RANGE`` and nothing else, so one owner answers
for each attribute; :func:`provisioning.policy.desired_account` composes them:

* :mod:`.lifecycle`: state (enabled / disabled / absent), the post that places the
  account, its DN and containers, ``idhubAccountStatus``;
* :mod:`.identity`: names, object classes, post attributes (title, department, ou);
* :mod:`.entitlements`: roles, groups, application roles, quota class;
* :mod:`.mail`: address, mailbox, quota bytes, aliases, forwarding or bounce.
"""
