"""Which version serves a reference now, and switching it safely when an alias moves.

References are resolved once and then served from memory. Every ``ttl_s`` seconds the router
asks the registry one question for the whole server — which models changed since the last
audit event it saw — and re-resolves only the references of those models, in the background
(re-resolving every served model on a timer would cost thousands of queries a second at
thousands of models). When the registry now names another version, the new one is loaded and
smoke-tested while the old one keeps serving; traffic switches only once it passed. A version
that fails keeps the old one serving, with the reason recorded.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from shoal.errors import NotFoundError, ShoalError
from shoal.registry.records import ModelVersion
from shoal.registry.refs import ModelRef

logger = logging.getLogger(__name__)

Resolve = Callable[[ModelRef], ModelVersion]
Warm = Callable[[ModelVersion], Awaitable[None]]
Changes = Callable[[int], tuple[int, set[tuple[str, str]]]]
ReadPage = Callable[[tuple[str, str] | None], tuple[list[ModelVersion], tuple[str, str] | None]]
"""One page of default routes after a (tenant, model), and where the next page starts."""


@dataclass(slots=True)
class Route:
    """What one reference serves, and what it is switching to."""

    current: ModelVersion
    candidate: int | None = None
    refreshing: asyncio.Future[ModelVersion] | None = None
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
        self,
        resolve: Resolve,
        warm: Warm,
        changes: Changes,
        clock: Callable[[], float],
        ttl_s: float = 2.0,
    ):
        self._resolve = resolve
        self._warm = warm
        self._changes = changes
        self._clock = clock
        self._ttl = ttl_s
        self._routes: dict[str, Route] = {}
        self._by_model: dict[tuple[str, str], set[str]] = {}
        self._seen_id = -1  # the newest audit event the routes reflect; -1: not read yet
        self._polled_at = float("-inf")
        self._polling: asyncio.Future[tuple[int, set[tuple[str, str]]]] | None = None

    def route(self, ref: ModelRef) -> ModelVersion:
        """The version to serve ``ref`` with now (``NotFoundError`` if it does not exist).

        Only a reference seen for the first time waits for the registry; after that the answer
        comes from memory, and the periodic poll (off the event loop) re-resolves it when its
        model changed.
        """
        key = str(ref)
        now = self._clock()
        if self._seen_id < 0:
            # Once, before the first resolution: every change after this id will be reported.
            self._seen_id = self._changes(-1)[0]
            self._polled_at = now
        elif now - self._polled_at >= self._ttl and self._polling is None:
            self._poll(now)
        route = self._routes.get(key)
        if route is None:
            version = self._resolve(ref)
            self._routes[key] = Route(version)
            self._by_model.setdefault((ref.tenant, ref.model), set()).add(key)
            return version
        return route.current

    async def preload(self, read: ReadPage) -> int:
        """Learn the routes ``read`` returns page by page (``RegistryService.default_versions``)
        for every reference not resolved yet; returns how many were added.

        The first request for a model then finds its route in memory. Pages are small (at most
        ~4 ms each) and read on the event loop, as a first request's own resolution is, with a
        turn for requests between pages: on a thread, the same work held the interpreter lock
        in long stretches and first requests meanwhile waited 20-70 ms. The newest audit id is
        noted before the first page, so a change made meanwhile is picked up by the next poll.
        """
        if self._seen_id < 0:
            self._seen_id, self._polled_at = self._changes(-1)[0], self._clock()
        added = 0
        after: tuple[str, str] | None = None
        while True:
            versions, after = read(after)
            for version in versions:
                key = str(ModelRef(version.tenant, version.model))
                if key not in self._routes:
                    self._routes[key] = Route(version)
                    self._by_model.setdefault((version.tenant, version.model), set()).add(key)
                    added += 1
            if after is None:
                return added
            await asyncio.sleep(0)  # requests go on between pages

    def _poll(self, now: float) -> None:
        self._polled_at = now
        loop = asyncio.get_running_loop()
        self._polling = loop.run_in_executor(None, self._changes, self._seen_id)
        self._polling.add_done_callback(self._polled)

    def _polled(self, done: asyncio.Future[tuple[int, set[tuple[str, str]]]]) -> None:
        self._polling = None
        try:
            newest, changed = done.result()
        except ShoalError as exc:  # the registry is unreachable: keep serving what we have
            logger.warning("cannot poll the registry for changes: %s", exc)
            return
        self._seen_id = newest
        for model in changed:
            for key in tuple(self._by_model.get(model, ())):
                route = self._routes.get(key)
                if route is not None:
                    self._refresh(key, ModelRef.parse(key), route)

    def _refresh(self, key: str, ref: ModelRef, route: Route) -> None:
        if route.refreshing is not None:
            return
        loop = asyncio.get_running_loop()
        route.refreshing = loop.run_in_executor(None, self._resolve, ref)
        route.refreshing.add_done_callback(lambda done: self._refreshed(key, ref, route, done))

    def _refreshed(
        self, key: str, ref: ModelRef, route: Route, done: asyncio.Future[ModelVersion]
    ) -> None:
        route.refreshing = None
        try:
            latest = done.result()
        except NotFoundError:  # deleted: the next request resolves afresh and gets its 404
            if self._routes.get(key) is route:
                del self._routes[key]
                self._by_model.get((ref.tenant, ref.model), set()).discard(key)
            return
        except ShoalError as exc:  # the registry is unreachable: keep serving what we have
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
        self._by_model.get((ref.tenant, ref.model), set()).discard(str(ref))

    def routes(self) -> list[RouteInfo]:
        return [
            RouteInfo(key, r.current.version, r.candidate, dict(r.failures))
            for key, r in sorted(self._routes.items())
        ]

    async def settle(self) -> None:
        """Apply every registry change committed before this call, and wait for the switches.

        A poll already in flight may have read the changes before the latest commits, so after
        it ends a fresh poll runs; then refreshes and switches are awaited (tests, shutdown).
        """
        if self._polling is not None:
            await asyncio.gather(self._polling, return_exceptions=True)
            await asyncio.sleep(0)  # its done-callback runs first
        if self._seen_id >= 0 and self._polling is None:
            self._poll(self._clock())
        while True:
            pending: list[asyncio.Future[object]] = []
            if self._polling is not None and not self._polling.done():
                pending.append(self._polling)  # type: ignore[arg-type]
            for route in self._routes.values():
                for future in (route.refreshing, route.switching):
                    if future is not None and not future.done():
                        pending.append(future)  # type: ignore[arg-type]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)
            await asyncio.sleep(0)  # let done-callbacks start the switches they trigger
