"""The model registry: tenants own models; models have immutable versions, aliases and approvals."""
