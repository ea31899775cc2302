"""What every change writes with it, in its own transaction: the change context (who, why),
the hash-chained audit log, the converge jobs of the outbox, and the mass-change guard.

A floor below the wings: identity, engine and reorg all write through it."""
