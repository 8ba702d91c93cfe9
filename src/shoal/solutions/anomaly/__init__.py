"""Per-tenant anomaly detection on 5-minute buckets of log/metric counts."""
