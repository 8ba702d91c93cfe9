"""Telemetry of the serving path.

Prometheus metrics, OpenTelemetry traces, JSON access logs, data capture.
"""
