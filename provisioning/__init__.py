"""The functional core of provisioning: naming, policy, planning. Plain data in, plain data out."""
