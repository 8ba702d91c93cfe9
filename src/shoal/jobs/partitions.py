"""``map_partitions``: spread a DataFrame over every core from a notebook, and put it back.

The frame is cut into one piece per worker (whole groups together when ``by`` is given), the
pieces are handed to worker processes forked from the caller, and the results are put back
together in order. Forking (where the platform has it) means the function and the pieces are
inherited, not pickled: a lambda or a function defined in a notebook cell works, and only the
results travel back. Without ``fork`` (Windows), threads run the pieces instead.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np

from shoal.errors import ValidationError

if TYPE_CHECKING:  # pandas is imported on first use: every CLI command imports this package
    import pandas as pd

    PartitionFunction = Callable[[pd.DataFrame], pd.DataFrame | pd.Series]

# What the forked workers inherit. Only one fan-out forks at a time (the lock), so the state
# a child sees is the state of the call that forked it.
_inherited: dict[str, tuple[PartitionFunction, list[pd.DataFrame]]] = {}
_fork_lock = threading.Lock()


def cores() -> int:
    """The cores this process may use (its CPU affinity where the platform tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def split(
    frame: pd.DataFrame, parts: int, by: str | Sequence[str] | None = None
) -> list[pd.DataFrame]:
    """``frame`` in at most ``parts`` pieces of similar size; a group of ``by`` is never split."""
    if parts < 1:
        raise ValidationError(f"parts must be at least 1, got {parts}")
    if by is None:
        bounds = np.linspace(0, len(frame), min(parts, max(len(frame), 1)) + 1).astype(int)
        return [frame.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    keys = [by] if isinstance(by, str) else list(by)
    missing = [key for key in keys if key not in frame.columns]
    if missing:
        raise ValidationError(f"cannot split by missing column(s) {', '.join(missing)}")
    # Largest groups first, each to the lightest piece so far: pieces end up balanced.
    groups = sorted(frame.groupby(keys, sort=False).indices.values(), key=len, reverse=True)
    buckets: list[list[np.ndarray]] = [[] for _ in range(min(parts, max(len(groups), 1)))]
    sizes = [0] * len(buckets)
    for rows in groups:
        lightest = sizes.index(min(sizes))
        buckets[lightest].append(np.asarray(rows))
        sizes[lightest] += len(rows)
    return [frame.iloc[np.sort(np.concatenate(b))] for b in buckets if b] or [frame.iloc[0:0]]


def map_partitions(
    frame: pd.DataFrame,
    func: PartitionFunction,
    workers: int | None = None,
    by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """``func`` applied to pieces of ``frame`` on ``workers`` processes (default: every core),
    the results concatenated in the pieces' order.

    >>> scored = map_partitions(events, lambda p: p.assign(score=model(p)))  # doctest: +SKIP
    >>> per_customer = map_partitions(events, fit_each, by="customer")  # doctest: +SKIP
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(f"map_partitions takes a DataFrame, got {type(frame).__name__}")
    count = workers if workers is not None else cores()
    if count < 1:
        raise ValidationError(f"workers must be at least 1, got {workers}")
    pieces = split(frame, count, by)
    if count == 1 or len(pieces) == 1:
        results = [func(piece) for piece in pieces]
    elif "fork" in multiprocessing.get_all_start_methods():
        results = _forked(func, pieces, count)
    else:
        with ThreadPoolExecutor(count) as pool:
            results = list(pool.map(func, pieces))
    return pd.concat([_as_frame(result) for result in results])


def _forked(
    func: PartitionFunction, pieces: list[pd.DataFrame], count: int
) -> list[pd.DataFrame | pd.Series]:
    context = multiprocessing.get_context("fork")
    with _fork_lock:
        _inherited["work"] = (func, pieces)
        try:
            pool = context.Pool(min(count, len(pieces)))  # forks every worker now
        finally:
            _inherited.clear()
    with pool:
        return pool.map(_apply, range(len(pieces)), chunksize=1)


def _apply(index: int) -> pd.DataFrame | pd.Series:
    func, pieces = _inherited["work"]
    return func(pieces[index])


def _as_frame(result: object) -> pd.DataFrame:
    import pandas as pd

    if isinstance(result, pd.DataFrame):
        return result
    if isinstance(result, pd.Series):
        return result.to_frame()
    raise ValidationError(
        f"the function given to map_partitions must return a DataFrame or Series, "
        f"got {type(result).__name__}"
    )
