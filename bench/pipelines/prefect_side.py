"""Prefect on the same workloads, run inside Prefect's own virtualenv (``--items``, ``--chain``).

Prints one JSON object: seconds for a mapped fan-out of empty tasks and for a chain of empty
tasks, each timed after a warm-up flow (so the ephemeral API server's start is not counted).
"""

from __future__ import annotations

import argparse
import json
import time

from prefect import flow, task


@task
def noop(value: int) -> None:
    return None


@task
def link(value: int) -> int:
    return value


@flow
def fan_out(count: int) -> None:
    futures = noop.map(list(range(count)))
    futures.result()


@flow
def chain(length: int) -> None:
    value = 0
    for _ in range(length):
        value = link(value)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--chain", type=int, default=50)
    args = parser.parse_args()
    fan_out(2)  # warm-up: starts the ephemeral server, imports everything
    began = time.perf_counter()
    fan_out(args.items)
    fan_out_s = time.perf_counter() - began
    began = time.perf_counter()
    chain(args.chain)
    chain_s = time.perf_counter() - began
    import prefect

    print(
        json.dumps(
            {
                "version": prefect.__version__,
                "items": args.items,
                "fan_out_s": fan_out_s,
                "chain": args.chain,
                "chain_s": chain_s,
            }
        )
    )


if __name__ == "__main__":
    main()
