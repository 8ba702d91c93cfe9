"""Operator endpoints: the model cache's state as JSON (``GET /v2/cache``)."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Request

from shoal.api.errors import ERROR_RESPONSES
from shoal.api.json import JSONResponse
from shoal.api.v2.routes import Who, service

router = APIRouter(prefix="/v2", tags=["operations"], responses=ERROR_RESPONSES)


@router.get("/cache", summary="Model cache: budget, resident models, hits, misses, evictions")
async def cache_state(request: Request, who: Who, limit: int = 100) -> JSONResponse:
    who.require_admin("the cache state")
    serving = service(request)
    entries = sorted(serving.cache.entries(), key=lambda e: e.last_used or 0.0, reverse=True)
    return JSONResponse(
        {
            "stats": dataclasses.asdict(serving.stats()),
            "entries": [dataclasses.asdict(entry) for entry in entries[: max(0, limit)]],
            "routes": [dataclasses.asdict(route) for route in serving.routes()],
        }
    )
