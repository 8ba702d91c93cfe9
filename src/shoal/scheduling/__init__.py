"""Schedules.

Cron triggers for pipelines, run by a scheduler process that never starts a run twice.
"""
