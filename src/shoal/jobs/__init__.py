"""Notebook jobs: parameterised notebook runs with limits, resource figures and kept outputs."""
