"""The web plumbing every wing's API and pages stand on: the flask-smorest API with its
error format, bearer-token checks, the write transaction, ETags, idempotency, paging,
shared schema fields and the security headers."""
