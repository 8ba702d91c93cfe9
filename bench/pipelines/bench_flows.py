"""The pipelines the benchmark runs: empty fan-outs, an empty chain, 1,000 real tenant models."""

from __future__ import annotations

from shoal.pipelines import each, pipeline, step
from shoal.pipelines.templates.tenant_detectors import bank_call_streams, train_tenant_detector

CHAIN = 200
VARIANTS = 4


@step
def numbers(count: int) -> list[int]:
    return list(range(count))


@step
def noop(value: int) -> None:
    return None


@pipeline
def empty_fan_out(count: int) -> None:
    """``count`` empty items: what a fan-out costs beyond the work."""
    noop.map(value=each(numbers(count)))


@step
def start() -> int:
    return 0


@step
def link(value: int) -> int:
    return value


@pipeline
def empty_chain() -> None:
    """``CHAIN`` empty steps one after another: the latency of a step."""
    value = start()
    for _ in range(CHAIN):
        value = link(value)


@step
def variant_tenants(count: int) -> list[str]:
    """Tenant of each model: every bank_calls stream, once per variant, ``count`` in all."""
    streams = list(bank_call_streams())
    return [streams[i % len(streams)] for i in range(count)]


@step
def variant_models(count: int) -> list[str]:
    streams = len(bank_call_streams())
    return [f"log-anomaly-v{i // streams}" for i in range(count)]


@pipeline
def tenant_models(count: int = 1000, seed: int = 7) -> None:
    """``count`` detectors on real data: 328 tenant streams x up to 4 model variants."""
    train_tenant_detector.map(
        tenant=each(variant_tenants(count)), model=each(variant_models(count)), seed=seed
    )
