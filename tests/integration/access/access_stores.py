"""What the access contract tests share: the stores under test and a fixed time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from shoal.access.store import KeyStore, PlanStore
from shoal.registry.store import RegistryStore

REDIS_URL = "redis://127.0.0.1:6379/0"
AT = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


@dataclass
class AccessStores:
    """The registry (for tenants) and the access stores of one backend."""

    registry: RegistryStore
    keys: KeyStore
    plans: PlanStore
