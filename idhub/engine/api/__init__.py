"""The engine's REST API: jobs, plans, account states, reconciliation, the guard, seats."""
