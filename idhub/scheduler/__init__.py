"""Work done by the clock: the daily sweep (retention, delegations, seats) and change sets
whose effective date has come."""
