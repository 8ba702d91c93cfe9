"""Notifications.

Webhook and e-mail messages on run and job events, retried, never failing the run.
"""
