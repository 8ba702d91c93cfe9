"""Pipelines.

Typed steps composed into a graph, run locally or on Ray, with retries, resume, fan-out
and snapshots.
"""
