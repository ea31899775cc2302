"""The audit trail as people and tools read it: the API and `idhub audit verify`.
The chain itself is written by `idhub.changes.chain`."""
