"""The HR resources of the REST API: org units, people, positions, assignments, batches,
mail delegations, app delegations."""
