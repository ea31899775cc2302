"""Targets: what the engine converges people into. Each plans (desired against actual),
applies through its connector and records what it did."""
