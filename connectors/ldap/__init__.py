"""LDAP connector (python-ldap): reads and writes accounts, org-unit containers and
group memberships under one base DN.

  connection  the one connection: bind, reconnect, timeouts, error mapping
  entries     how hub objects look in the directory (key attributes, Accounts)
  reads       read by key, read_many, paged scans, containers, managed groups
  writer      apply(): a batch's runs of operations, to pipeline or step
    batch       a batch's state and running an operation on its entry
    steps       the synchronous step of each kind of operation
    pipeline    pipelining on the one connection
    members     memberships on the member; hub groups made on first use
  connector   LdapConnector, gluing them together

DNs come from the planner already escaped and are only ever parsed here with
connectors.dn (never built by string surgery on values); every python-ldap exception
leaves this package as a connectors.base error.
"""

from connectors.ldap.connection import LdapConfig
from connectors.ldap.connector import ADD_WINDOW, LdapConnector
from connectors.ldap.entries import MEMBER_ATTRIBUTE
from connectors.ldap.reads import PAGE_SIZE, READ_CHUNK

__all__ = [
    "ADD_WINDOW",
    "MEMBER_ATTRIBUTE",
    "PAGE_SIZE",
    "READ_CHUNK",
    "LdapConfig",
    "LdapConnector",
]
