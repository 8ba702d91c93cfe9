"""Which version serves a reference now, and switching it safely when an alias moves.

A reference without a pinned version (``t/m``, ``t/m@production``) is re-resolved at most every
``ttl_s`` seconds. When the registry now names another version, the new one is loaded and
smoke-tested in the background while the old one keeps serving; traffic switches only once it
passed. A version that fails keeps the old one serving, with the reason recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shoal.errors import ShoalError
from shoal.registry.records import ModelVersion
from shoal.registry.refs import ModelRef

logger = logging.getLogger(__name__)

Resolve = Callable[[ModelRef], ModelVersion]
Warm = Callable[[ModelVersion], Awaitable[None]]


@dataclass(slots=True)
class Route:
    """What one reference serves, and what it is switching to."""

    current: ModelVersion
    checked_at: float
    candidate: int | None = None
    switching: asyncio.Task[None] | None = None
    failures: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RouteInfo:
    """A route as reported by the repository index."""

    ref: str
    version: int
    candidate: int | None
    failures: dict[int, str]


class Router:
    """Resolves references to versions with a short TTL and swaps versions after a smoke test."""

    def __init__(
        self, resolve: Resolve, warm: Warm, clock: Callable[[], float], ttl_s: float = 2.0
    ):
        self._resolve = resolve
        self._warm = warm
        self._clock = clock
        self._ttl = ttl_s
        self._routes: dict[str, Route] = {}

    def route(self, ref: ModelRef) -> ModelVersion:
        """The version to serve ``ref`` with now (``NotFoundError`` if it does not exist)."""
        if ref.version is not None:
            return self._resolve(ref)  # pinned versions never move; the resolver is cheap
        key = str(ref)
        now = self._clock()
        route = self._routes.get(key)
        if route is None:
            version = self._resolve(ref)
            self._routes[key] = Route(version, now)
            return version
        if now - route.checked_at >= self._ttl:
            route.checked_at = now
            self._refresh(key, ref, route)
        return route.current

    def _refresh(self, key: str, ref: ModelRef, route: Route) -> None:
        try:
            latest = self._resolve(ref)
        except ShoalError as exc:  # deleted or unreachable: keep serving what we have
            logger.warning(
                "cannot re-resolve %s, still serving %s: %s", key, route.current.ref, exc
            )
            return
        if latest.version == route.current.version or latest.version in route.failures:
            return
        if route.switching is not None and not route.switching.done():
            return
        route.candidate = latest.version
        route.switching = asyncio.get_running_loop().create_task(self._switch(key, route, latest))

    async def _switch(self, key: str, route: Route, version: ModelVersion) -> None:
        try:
            await self._warm(version)
        except Exception as exc:  # any failure at all keeps the old version serving
            route.failures[version.version] = f"{type(exc).__name__}: {exc}"
            logger.error(
                "%s stays on %s: %s failed its smoke test: %s",
                key,
                route.current.ref,
                version.ref,
                exc,
            )
        else:
            logger.info("%s now serves %s (was %s)", key, version.ref, route.current.ref)
            route.current = version
        finally:
            route.candidate = None

    def forget(self, ref: ModelRef) -> None:
        self._routes.pop(str(ref), None)

    def routes(self) -> list[RouteInfo]:
        return [
            RouteInfo(key, r.current.version, r.candidate, dict(r.failures))
            for key, r in sorted(self._routes.items())
        ]

    async def settle(self) -> None:
        """Wait for switches in flight (tests, shutdown)."""
        tasks = [r.switching for r in self._routes.values() if r.switching is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
