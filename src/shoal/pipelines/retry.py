"""Retry policy of a step: attempts, exponential backoff with jitter, transient errors, budget."""

from __future__ import annotations

import random
from dataclasses import dataclass

from shoal.errors import ValidationError

TRANSIENT_ERRORS: tuple[str, ...] = (
    "builtins.ConnectionError",
    "builtins.TimeoutError",
    "socket.timeout",
)
"""Errors retried when a policy names none: network trouble, by fully qualified class name."""


@dataclass(frozen=True, slots=True)
class Retry:
    """How a failing item is retried.

    An attempt that raises one of ``transient`` (classes, or dotted names of classes, matched
    with their subclasses) is retried up to ``attempts`` attempts in all, after
    ``min(max_delay_s, backoff_s * multiplier ** (attempt - 1))`` seconds scaled by a random
    factor in ``[1 - jitter, 1]`` ("equal jitter" keeps retries of a fan-out from arriving in
    lock-step). Any other error fails the item at once. ``budget`` caps the retries one
    fan-out step may spend in all: an int is a count, a float in (0, 1] a share of its items,
    so a systemic outage fails fast instead of multiplying the load by ``attempts``.
    """

    attempts: int = 1
    backoff_s: float = 1.0
    multiplier: float = 2.0
    max_delay_s: float = 60.0
    jitter: float = 0.5
    transient: tuple[type[BaseException] | str, ...] = TRANSIENT_ERRORS
    budget: int | float | None = None

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValidationError(f"retry attempts must be at least 1, got {self.attempts}")
        if self.backoff_s < 0 or self.max_delay_s < 0 or self.multiplier < 1:
            raise ValidationError(
                f"retry delays must be non-negative with a multiplier >= 1, got backoff "
                f"{self.backoff_s}, max {self.max_delay_s}, multiplier {self.multiplier}"
            )
        if not 0 <= self.jitter <= 1:
            raise ValidationError(f"retry jitter must be within [0, 1], got {self.jitter}")
        if isinstance(self.budget, float) and not 0 < self.budget <= 1:
            raise ValidationError(f"a retry budget share must be in (0, 1], got {self.budget}")
        if isinstance(self.budget, int) and self.budget < 0:
            raise ValidationError(f"a retry budget must be >= 0, got {self.budget}")

    @property
    def transient_names(self) -> tuple[str, ...]:
        """The transient error classes as dotted names (they cross process boundaries)."""
        return tuple(
            entry if isinstance(entry, str) else f"{entry.__module__}.{entry.__qualname__}"
            for entry in self.transient
        )

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``, after attempt ``attempt`` failed."""
        base = min(self.max_delay_s, self.backoff_s * self.multiplier ** max(attempt - 1, 0))
        factor = 1.0 - self.jitter * (rng or _RNG).random()
        return base * factor

    def budget_for(self, items: int) -> int | None:
        """How many retries a fan-out of ``items`` items may spend; None for no cap."""
        if self.budget is None:
            return None
        if isinstance(self.budget, float):
            return max(1, int(self.budget * items))
        return self.budget


_RNG = random.Random()  # noqa: S311 - jitter, not cryptography


def is_transient(error_types: tuple[str, ...], transient: tuple[str, ...]) -> bool:
    """Whether an error whose class and bases are ``error_types`` (dotted) is transient."""
    return any(name in transient for name in error_types)


def error_lineage(error: BaseException) -> tuple[str, ...]:
    """The dotted names of the error's class and of all its bases (matched against policies)."""
    return tuple(f"{cls.__module__}.{cls.__qualname__}" for cls in type(error).__mro__)
