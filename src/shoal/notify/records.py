"""What a notification says, and whether a notifier delivered it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Level(StrEnum):
    """How the news should look: green, red or amber."""

    SUCCESS = "success"
    FAILURE = "failure"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Notification:
    """One message for every channel: a title, some text, and labelled facts (run id, times)."""

    title: str
    text: str
    level: Level
    facts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How sending to one channel went; ``error`` never holds a secret."""

    channel: str
    delivered: bool
    attempts: int
    error: str | None = None
