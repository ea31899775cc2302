"""The provisioning engine's shell: identifiers, the job outbox, snapshots, converge, worker.

The decisions (naming, policy, planning) are in the pure `provisioning` package; this
package feeds it from the database and applies its plans through `connectors`.
"""
