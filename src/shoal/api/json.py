"""A JSON response rendered with orjson (numpy-free, fast, compact)."""

from __future__ import annotations

import orjson
from starlette.responses import Response


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)
