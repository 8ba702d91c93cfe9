"""Readiness: probes of the stores, cached, concurrent and bounded in time."""

import asyncio
import threading

from shoal.observability.health import Readiness


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingProbe:
    def __init__(self, fails: bool = False) -> None:
        self.calls = 0
        self.fails = fails

    def __call__(self) -> None:
        self.calls += 1
        if self.fails:
            raise ConnectionError("connection refused")


def test_ready_only_when_started_and_every_store_answers() -> None:
    async def scenario() -> None:
        metadata, artifacts = CountingProbe(), CountingProbe(fails=True)
        readiness = Readiness({"metadata": metadata, "artifacts": artifacts})
        starting = await readiness.check(started=False)
        assert not starting.ready
        assert metadata.calls == 0  # not started: the stores are not even asked
        report = await readiness.check()
        assert not report.ready
        assert dict(report.checks) == {"started": True, "metadata": True, "artifacts": False}
        readiness.close()

    asyncio.run(scenario())


def test_a_report_is_reused_for_ttl_seconds_and_shared_by_concurrent_checks() -> None:
    async def scenario() -> None:
        clock, probe = Clock(), CountingProbe()
        readiness = Readiness({"metadata": probe}, ttl_s=5.0, clock=clock)
        reports = await asyncio.gather(*(readiness.check() for _ in range(10)))
        assert all(report.ready for report in reports)
        assert probe.calls == 1
        clock.now = 4.9
        await readiness.check()
        assert probe.calls == 1
        clock.now = 5.0
        await readiness.check()
        assert probe.calls == 2
        readiness.close()

    asyncio.run(scenario())


def test_a_hanging_store_fails_the_check_in_time_and_is_not_asked_again_meanwhile() -> None:
    release = threading.Event()
    calls: list[int] = []

    def hangs() -> None:
        calls.append(1)
        release.wait(5)

    async def scenario() -> None:
        clock = Clock()
        readiness = Readiness({"metadata": hangs}, ttl_s=1.0, timeout_s=0.05, clock=clock)
        assert not (await readiness.check()).ready
        clock.now = 2.0
        assert not (await readiness.check()).ready
        assert len(calls) == 1  # the first call is still hanging: no second thread
        release.set()
        await asyncio.sleep(0.05)
        clock.now = 4.0
        assert (await readiness.check()).ready
        readiness.close()

    asyncio.run(scenario())
