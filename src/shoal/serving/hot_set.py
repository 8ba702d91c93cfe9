"""The hot set: the most valuable resident models, saved at shutdown and reloaded at start-up."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from shoal.errors import ShoalError
from shoal.registry.refs import ModelRef
from shoal.serving.service import InferenceService

logger = logging.getLogger(__name__)


class HotSet:
    """A JSON list of pinned-version refs (``t/m:3``) in a file."""

    def __init__(self, path: Path):
        self._path = path

    def save(self, keys: Sequence[str]) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".hot-set-")
        with os.fdopen(fd, "w") as out:
            json.dump(list(keys), out)
        os.replace(tmp, self._path)

    def load(self) -> list[str]:
        try:
            keys = json.loads(self._path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable hot set %s: %s", self._path, exc)
            return []
        return [key for key in keys if isinstance(key, str)] if isinstance(keys, list) else []

    async def restore(self, inference: InferenceService) -> int:
        """Load the saved models, most valuable first; returns how many came back."""
        restored = 0
        for key in self.load():
            try:
                await inference.load(ModelRef.parse(key))
                restored += 1
            except ShoalError as exc:  # deleted since, or broken: the rest still come back
                logger.info("hot set: skipping %s: %s", key, exc)
        logger.info("hot set: restored %d models", restored)
        return restored
