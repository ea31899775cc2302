"""HR writes with their rules, audit events and (later) converge jobs, one transaction each."""
