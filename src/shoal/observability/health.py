"""Readiness: the server may take traffic when it has started and its stores answer.

Each probe (metadata store, artifact store) is a blocking call that raises when its store cannot
be reached. Probes run on threads, all at once, each within ``timeout_s``; the report is cached
for ``ttl_s`` (5 s), so a balancer polling every second costs one round trip per store every five
seconds, and concurrent polls share one check. A probe still hanging from an earlier check counts
as failing and is not started again (a dead database cannot pile up threads).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

logger = logging.getLogger(__name__)

Probe = Callable[[], object]
"""Raises when its store cannot be reached; what it returns is ignored."""


@dataclass(frozen=True, slots=True)
class ReadyReport:
    """Whether the server is ready, and each probe's result (names only: no error text, the
    readiness endpoint needs no key)."""

    ready: bool
    checks: Mapping[str, bool]


class Readiness:
    """Cached, concurrent, time-bounded probes of the stores the server needs."""

    def __init__(
        self,
        probes: Mapping[str, Probe],
        *,
        ttl_s: float = 5.0,
        timeout_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probes = dict(probes)
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._report: ReadyReport | None = None
        self._checked_at = 0.0
        self._checking: asyncio.Task[ReadyReport] | None = None
        self._running: dict[str, concurrent.futures.Future[object]] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._failing: set[str] = set()

    async def check(self, started: bool = True) -> ReadyReport:
        """The (cached) report; ``started`` is the server's own start-up flag."""
        if not started:
            return ReadyReport(False, {"started": False})
        report = self._report
        if report is not None and self._clock() - self._checked_at < self._ttl_s:
            return report
        if self._checking is None or self._checking.done():
            self._checking = asyncio.create_task(self._check())
        return await asyncio.shield(self._checking)

    async def _check(self) -> ReadyReport:
        names = list(self._probes)
        results = await asyncio.gather(*(self._run(name) for name in names))
        checks = {"started": True, **dict(zip(names, results, strict=True))}
        report = ReadyReport(all(checks.values()), checks)
        self._report, self._checked_at = report, self._clock()
        return report

    async def _run(self, name: str) -> bool:
        running = self._running.get(name)
        if running is not None and not running.done():
            self._note(name, "still not answering after an earlier check")
            return False
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                len(self._probes), thread_name_prefix="shoal-ready"
            )
        future = self._executor.submit(self._probes[name])
        self._running[name] = future
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), self._timeout_s)
        except TimeoutError:
            self._note(name, f"no answer within {self._timeout_s} s")
            return False
        except Exception as exc:
            self._note(name, repr(exc))
            return False
        if name in self._failing:
            self._failing.discard(name)
            logger.info("readiness: the %s store answers again", name)
        return True

    def _note(self, name: str, why: str) -> None:
        if name not in self._failing:  # log the change, not every poll
            self._failing.add(name)
            logger.warning("readiness: the %s store is unreachable: %s", name, why)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            self._running.clear()
