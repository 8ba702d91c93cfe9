"""Storage edge: SQL and in-memory registry stores, migrations, and the fsspec artifact store.

It implements the Protocols of ``shoal.registry.store``; features never import it, only
``shoal.wiring`` does.
"""

from __future__ import annotations

from shoal.storage.artifacts import FsspecArtifactStore
from shoal.storage.engine import create_engine
from shoal.storage.memory_registry import InMemoryRegistryStore
from shoal.storage.migrate import upgrade
from shoal.storage.sql_registry import SqlRegistryStore

__all__ = [
    "FsspecArtifactStore",
    "InMemoryRegistryStore",
    "SqlRegistryStore",
    "create_engine",
    "upgrade",
]
