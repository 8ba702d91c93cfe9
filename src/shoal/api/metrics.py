"""``GET /metrics``: Prometheus metrics, for an admin key, the scrape token, or loopback callers.

The metrics name every tenant's models, so a tenant key may not read them. Prometheus usually
has no API key, so two more ways in are offered, both off by default: a bearer token that only
reads metrics (``SHOAL_METRICS_TOKEN``, for a scraper elsewhere) and callers on the loopback
interface (``SHOAL_METRICS_LOOPBACK``, for a scraper on the same host; leave it off behind a
reverse proxy on the same host, whose requests all come from loopback). Without auth
(``--no-auth``, loopback only) anyone may read them.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request, Response

from shoal.api.auth import principal_of
from shoal.observability.exposition import CONTENT_TYPE
from shoal.observability.telemetry import ScrapeAccess, Telemetry

router = APIRouter(tags=["operations"])


def may_scrape(request: Request, scrape: ScrapeAccess) -> bool:
    """Whether the scrape token or a loopback address lets this request in without a key."""
    if scrape.token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), scrape.token.encode()
        ):
            return True
    if scrape.loopback and request.client is not None:
        try:
            return ipaddress.ip_address(request.client.host).is_loopback
        except ValueError:
            return False
    return False


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin key, scrape token or loopback)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request) -> Response:
    telemetry: Telemetry = request.app.state.telemetry
    access = request.app.state.access
    if access is not None and not may_scrape(request, telemetry.scrape):
        principal_of(access, request.headers).require_admin("reading the metrics")
    compress = "gzip" in request.headers.get("accept-encoding", "").lower()
    body = await telemetry.metrics.render(compress)
    headers = {"Content-Encoding": "gzip"} if compress else None
    return Response(body, media_type=CONTENT_TYPE, headers=headers)
