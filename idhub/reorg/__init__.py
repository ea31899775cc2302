"""Reorganisations: change sets of unit operations, checked, previewed, applied, traced."""
