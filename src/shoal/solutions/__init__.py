"""Solutions built on the platform: per-tenant log anomaly detection (more to come)."""
