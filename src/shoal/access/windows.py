"""UTC calendar windows for quotas: which day and month an instant falls in and when each ends.

Instants are whole microseconds since the Unix epoch (``time.time_ns() // 1000``): limiting a
request is then integer arithmetic, with no datetime built or compared on the hot path. The
window of the current day is computed once and reused until the day ends, so ``windows_at`` is
a range check and one tuple for every request of a day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from shoal.errors import ValidationError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch_us(instant: datetime) -> int:
    """A timezone-aware ``instant`` in exact microseconds since the epoch (a float of seconds
    would be off by up to 0.2 µs at today's magnitude, enough to make 0.1 s at 10/s less than
    a token)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValidationError(f"limiter time {instant.isoformat()} must be timezone-aware")
    return (instant - _EPOCH) // _MICROSECOND


def from_epoch_us(instant_us: int) -> datetime:
    """The UTC datetime of ``instant_us``."""
    return _EPOCH + timedelta(microseconds=instant_us)


class _Span(NamedTuple):
    """One UTC day and the month around it, bounds in epoch microseconds."""

    day_start_us: int
    day_id: str
    day_reset_us: int
    month_id: str
    month_reset_us: int


class QuotaWindows(NamedTuple):
    """The day and month windows around ``now_us``; ids name counters, the day runs from
    ``day_start_us`` to ``day_reset_us`` and the month to ``month_reset_us`` (epoch
    microseconds, like ``now_us``).
    """

    now_us: int
    day_id: str
    day_start_us: int
    day_reset_us: int
    month_id: str
    month_reset_us: int

    @property
    def day_reset(self) -> datetime:
        """When the day window resets (UTC midnight)."""
        return from_epoch_us(self.day_reset_us)

    @property
    def month_reset(self) -> datetime:
        """When the month window resets (00:00 UTC on the 1st)."""
        return from_epoch_us(self.month_reset_us)

    @property
    def day_left_s(self) -> float:
        """Seconds until the day window resets."""
        return (self.day_reset_us - self.now_us) / 1e6

    @property
    def month_left_s(self) -> float:
        """Seconds until the month window resets."""
        return (self.month_reset_us - self.now_us) / 1e6


class _LastDay:
    """The day last asked for (replaced whole, so threads read either the old or the new)."""

    span = _Span(0, "", 0, "", 0)


def windows_at(instant_us: int) -> QuotaWindows:
    """The quota windows ``instant_us`` (epoch microseconds) falls in."""
    span = _LastDay.span
    if not span.day_start_us <= instant_us < span.day_reset_us:
        span = _LastDay.span = _span_of(instant_us)
    return QuotaWindows(
        instant_us,
        span.day_id,
        span.day_start_us,
        span.day_reset_us,
        span.month_id,
        span.month_reset_us,
    )


def _span_of(instant_us: int) -> _Span:
    moment = from_epoch_us(instant_us)
    year, month = moment.year, moment.month
    day_start = datetime(year, month, moment.day, tzinfo=UTC)
    month_reset = (
        datetime(year + 1, 1, 1, tzinfo=UTC)
        if month == 12
        else (datetime(year, month + 1, 1, tzinfo=UTC))
    )
    return _Span(
        epoch_us(day_start),
        f"{year:04d}-{month:02d}-{moment.day:02d}",
        epoch_us(day_start + timedelta(days=1)),
        f"{year:04d}-{month:02d}",
        epoch_us(month_reset),
    )
