"""Cron expressions in an explicit time zone: validated once, asked for the latest fire time.

Five fields (minute hour day month weekday) or an alias (``@daily``, ``@hourly``...), never
seconds. Times are computed in the schedule's zone, so ``0 2 * * *`` in ``Europe/Paris`` is
02:00 Paris time in winter and summer alike (on the spring-forward day, when 02:00 does not
exist, it fires at 03:00), and returned in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from shoal.errors import ValidationError

_ALIASES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def check_timezone(name: str) -> ZoneInfo:
    """The zone named ``name`` (IANA: ``UTC``, ``Europe/Paris``); ``ValidationError`` if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValidationError(
            f"unknown time zone {name!r}: use an IANA name such as UTC or Europe/Paris"
        ) from exc


@dataclass(frozen=True, slots=True)
class Cron:
    """A validated cron expression and the zone it is read in."""

    expression: str
    timezone: str

    @classmethod
    def parse(cls, expression: str, timezone: str) -> Cron:
        text = " ".join(str(expression).split())
        check_timezone(timezone)
        fields = text.split(" ")
        if text not in _ALIASES and len(fields) != 5:
            raise ValidationError(
                f"invalid cron expression {expression!r}: give 5 fields (minute hour day "
                "month weekday), e.g. '0 2 * * *', or an alias such as @daily"
            )
        try:
            valid = croniter.is_valid(text)
        except CroniterError:
            valid = False
        if not valid:
            raise ValidationError(
                f"invalid cron expression {expression!r}: a field is out of range or malformed"
            )
        return cls(text, timezone)

    def latest(self, now: datetime) -> datetime:
        """The latest fire time at or before ``now`` (UTC)."""
        local = now.astimezone(check_timezone(self.timezone))
        # croniter's get_prev is strictly before its start: start just after now.
        found: datetime = croniter(self.expression, local + timedelta(seconds=1)).get_prev(datetime)
        if found > now:
            found = croniter(self.expression, found).get_prev(datetime)
        return found.astimezone(UTC)

    def next_after(self, at: datetime) -> datetime:
        """The first fire time strictly after ``at`` (UTC)."""
        local = at.astimezone(check_timezone(self.timezone))
        found: datetime = croniter(self.expression, local).get_next(datetime)
        return found.astimezone(UTC)

    def count_between(self, after: datetime, until: datetime, limit: int = 1000) -> int:
        """How many fire times fall in (``after``, ``until``], counting up to ``limit``."""
        zone = check_timezone(self.timezone)
        walker = croniter(self.expression, after.astimezone(zone))
        count = 0
        while count < limit and walker.get_next(datetime) <= until:
            count += 1
        return count
