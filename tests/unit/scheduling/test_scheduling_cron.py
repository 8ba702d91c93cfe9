from datetime import UTC, datetime

import pytest

from shoal.errors import ValidationError
from shoal.scheduling.cron import Cron


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("61 * * * *", "out of range or malformed"),
        ("0 2 * *", "give 5 fields"),
        ("0 0 2 * * *", "give 5 fields"),
        ("every day", "give 5 fields"),
    ],
)
def test_an_invalid_cron_expression_is_rejected_with_the_expression(
    expression: str, words: str
) -> None:
    with pytest.raises(ValidationError, match=words) as caught:
        Cron.parse(expression, "UTC")
    assert repr(expression) in str(caught.value)


def test_an_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        Cron.parse("0 2 * * *", "Mars/Olympus")


def test_fire_times_follow_the_schedules_time_zone_across_daylight_saving() -> None:
    cron = Cron.parse("0 2 * * *", "Europe/Paris")
    winter = cron.next_after(datetime(2024, 1, 10, 12, tzinfo=UTC))
    summer = cron.next_after(datetime(2024, 7, 10, 12, tzinfo=UTC))
    assert winter == datetime(2024, 1, 11, 1, tzinfo=UTC)
    assert summer == datetime(2024, 7, 11, 0, tzinfo=UTC)


def test_the_latest_fire_time_includes_now_itself() -> None:
    cron = Cron.parse("*/15 * * * *", "UTC")
    at = datetime(2024, 1, 1, 10, 15, tzinfo=UTC)
    assert cron.latest(at) == at
    assert cron.latest(datetime(2024, 1, 1, 10, 29, 59, tzinfo=UTC)) == at
    assert cron.count_between(datetime(2024, 1, 1, 9, 0, tzinfo=UTC), at) == 5


def test_aliases_are_accepted() -> None:
    assert Cron.parse("@daily", "UTC").latest(datetime(2024, 1, 1, 5, tzinfo=UTC)) == datetime(
        2024, 1, 1, tzinfo=UTC
    )
