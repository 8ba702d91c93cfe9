"""Domain errors to exit codes and one-line messages on stderr."""

from __future__ import annotations

from shoal.errors import (
    ArtifactError,
    ConflictError,
    NotFoundError,
    ShoalError,
    UntrustedArtifactError,
    ValidationError,
)

EXIT_CODES: tuple[tuple[type[ShoalError], int], ...] = (
    (ValidationError, 2),
    (NotFoundError, 3),
    (ConflictError, 4),
    (UntrustedArtifactError, 5),
    (ArtifactError, 6),
)
"""First match wins; any other ShoalError exits 1. 2 is also click's usage-error code."""


def exit_code(error: ShoalError) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return 1
