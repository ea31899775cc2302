"""Who administers what: grants of administrative roles over unit subtrees, by hand
(API `/api/v1/admin-grants`, `idhub admin grant | revoke | list`); the scope they give is
worked out and enforced below, in idhub/admin_scope/."""
