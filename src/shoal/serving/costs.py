"""``PredictCosts``: what each model's prediction costs, to decide where it runs.

A prediction expected to take less than ``INLINE_PREDICT_S`` runs on the event loop. A thread
runs no Python alongside the loop (the interpreter lock), only the parts that release the lock,
and handing a 20-100 µs prediction to one costs more than that: a future, a wake-up, and the
lock taken back and forth after every call that released it. With a 100 µs bound the serving
bench did 2,600-4,500 req/s at 240-430 µs of CPU per request; with 1 ms, 5,000-6,650 at
150-200 µs. Slower predictions (batches, big models), and a model's first (its cost unknown,
unless the model states a bound: compact models do), run on the prediction threads so the loop
keeps serving.
"""

from __future__ import annotations

INLINE_PREDICT_S = 1e-3
"""Predictions expected to take less than this run on the event loop (blocking it as long)."""

OUTLIER_FACTOR = 4.0
"""An inline measurement counts for at most this many times the estimate (one preempted run)."""

PROBE_EVERY = 32
"""A model sent to the threads though it may be quick runs inline once per this many
predictions, to measure what it costs there."""

PROBE_BELOW_S = 10e-3
"""Only models estimated below this are probed: a probe blocks the loop for about as long."""


class PredictCosts:
    """CPU seconds per row of each model (by cache key), learnt from its predictions.

    On a thread, a prediction's CPU time also counts taking the interpreter lock back after
    every call that released it, under contention with the event loop: 100-260 µs for
    predictions that take 20-40 µs inline. Averaged in, such measurements kept a model first
    measured under load on the threads for good, paying a hand-off on every request (58 % of
    the serving bench's predictions). CPU time overstates, never understates, so a lower
    measurement is taken as it is; a run on a thread can only lower the estimate, and a model
    on the threads estimated under ``PROBE_BELOW_S`` runs inline once every ``PROBE_EVERY``
    predictions, which measures what it costs there. A higher inline measurement is averaged
    in (0.2), counting at most ``OUTLIER_FACTOR`` times the estimate (one preempted run), so a
    model found slow inline moves to the threads.
    """

    def __init__(self, inline_below_s: float = INLINE_PREDICT_S) -> None:
        self._inline_below_s = inline_below_s
        self._per_row: dict[str, float] = {}
        self._since_probe: dict[str, int] = {}

    def inline(self, key: str, rows: int, prior_per_row_s: float | None = None) -> bool:
        """Whether to run ``rows`` rows of this model on the loop: it is expected to be quick
        enough, or it is due a probe. Before the first measurement, ``prior_per_row_s`` (what
        the model says a row costs at most) stands in; without one the model goes to a thread."""
        per_row = self._per_row.get(key, prior_per_row_s)
        if per_row is None:
            return False
        cost = per_row * rows
        if cost < self._inline_below_s:
            return True
        if cost >= PROBE_BELOW_S:
            return False
        waited = self._since_probe.get(key, 0) + 1
        if waited >= PROBE_EVERY:
            self._since_probe[key] = 0
            return True
        self._since_probe[key] = waited
        return False

    def learn(self, key: str, per_row_s: float, inline: bool) -> None:
        """Fold one measured cost (CPU seconds per row) into the model's estimate."""
        previous = self._per_row.get(key)
        if previous is None or per_row_s <= previous:
            self._per_row[key] = per_row_s
        elif inline:
            self._per_row[key] = 0.8 * previous + 0.2 * min(per_row_s, OUTLIER_FACTOR * previous)

    def estimate(self, key: str) -> float | None:
        return self._per_row.get(key)
