"""``PredictCosts``: what each model's prediction costs, to decide where it runs.

A prediction expected to take less than ``INLINE_PREDICT_S`` runs on the event loop: handing a
15 µs ONNX call to a thread costs more than the call (a future, a wake-up, and up to the
interpreter's switch interval waiting for the lock back). Anything slower, and a model's first
prediction (its cost unknown), runs on the prediction threads so the loop keeps serving.
"""

from __future__ import annotations

INLINE_PREDICT_S = 100e-6
"""Predictions expected to take less than this run on the event loop."""

OUTLIER_FACTOR = 4.0
"""An inline measurement counts for at most this many times the estimate (one preempted run)."""


class PredictCosts:
    """CPU seconds per row of each model (by cache key), learnt from its predictions.

    CPU time only ever overstates what a prediction costs: a thread that shares the cores and
    the interpreter lock with the event loop measured 100-260 µs under load for predictions
    that take 20-40 µs alone. So a run on a thread can only lower the estimate (the minimum is
    the best guess of upward-biased measurements); were it averaged in, a model first measured
    under load would stay on the threads for good, paying a hand-off on every request (that
    was 58 % of the serving bench's predictions). Inline runs measure what the next inline run
    will cost: a moving average, in which one preempted run counts at most
    ``OUTLIER_FACTOR`` times the estimate.
    """

    def __init__(self, inline_below_s: float = INLINE_PREDICT_S) -> None:
        self._inline_below_s = inline_below_s
        self._per_row: dict[str, float] = {}

    def inline(self, key: str, rows: int) -> bool:
        """Whether ``rows`` rows of this model are expected to be quick enough for the loop."""
        per_row = self._per_row.get(key)
        return per_row is not None and per_row * rows < self._inline_below_s

    def learn(self, key: str, per_row_s: float, inline: bool) -> None:
        """Fold one measured cost (CPU seconds per row) into the model's estimate."""
        previous = self._per_row.get(key)
        if previous is None:
            self._per_row[key] = per_row_s
        elif inline:
            self._per_row[key] = 0.8 * previous + 0.2 * min(per_row_s, OUTLIER_FACTOR * previous)
        else:
            self._per_row[key] = min(previous, per_row_s)

    def estimate(self, key: str) -> float | None:
        return self._per_row.get(key)
