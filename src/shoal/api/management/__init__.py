"""The management API (``/api/v1``): registry, API keys, usage plans, usage and audit logs.

Every route is thin: it checks who may call it (``context.py``), calls one service method and
returns its record through a pydantic schema (``schemas.py``), so the OpenAPI document
describes exactly what is sent.
"""

from __future__ import annotations

from fastapi import FastAPI

from shoal.api.management import keys, models, plans, registration, tenants
from shoal.api.management.context import Management

__all__ = ["Management", "install"]


def install(app: FastAPI, management: Management, max_upload_bytes: int) -> None:
    """Mount ``/api/v1`` on ``app``: registration bodies up to ``max_upload_bytes``."""
    app.state.management = management
    app.state.max_upload_bytes = max_upload_bytes
    for module in (tenants, models, keys, plans, registration):
        app.include_router(module.router)
