"""The whole Shoal exception tree; domain errors know nothing of HTTP or exit codes.

::

    ShoalError
    ├── ValidationError          bad input: a malformed name, ref, signature or argument
    │   ├── InvalidNameError     a tenant/model/alias name that is not allowed
    │   ├── InvalidRefError      a model reference that does not parse
    │   ├── UnsupportedModelError  no runtime can save this object / read this file
    │   └── PayloadTooLargeError a request body over the size limit
    ├── AuthenticationError      a missing, malformed, unknown or revoked API key
    ├── AccessDeniedError        a valid key whose scope does not allow the operation
    ├── RateLimitedError         over a usage plan's rate or quota (``retry_after_s``)
    ├── NotFoundError            something asked for by name does not exist
    ├── ConflictError            it exists already, or the request clashes with current state
    ├── UntrustedArtifactError   loading would run code or types that are not trusted
    ├── ArtifactError            the artifact store failed
    │   └── CorruptArtifactError the bytes read back do not match their digest
    ├── RuntimeLoadError         a model runtime could not save, load or predict
    │   └── ModelLoadError       the serving cache could not load a model
    ├── PredictError             a loaded model raised while predicting (that request only)
    ├── CapacityError            no room now: the memory budget is held by models in use
    │   ├── ModelTooLargeError   a model bigger than the whole memory budget
    │   └── CacheFullError       every evictable byte is in use and none was freed in time
    ├── StorageError             the metadata store failed
    ├── RemoteError              a remote Shoal server could not be reached or answered oddly
    ├── DataQualityError         data failed an expectation whose severity is ``fail``
    ├── JobFailedError           a notebook job failed or ran past its max runtime
    └── NotificationError        a notifier could not deliver (retried, then only logged)
"""

from __future__ import annotations


class ShoalError(Exception):
    """Base class of every error Shoal raises on purpose."""


class ValidationError(ShoalError):
    """The input is malformed; the message says which value and why."""


class InvalidNameError(ValidationError):
    """A tenant, model or alias name breaks the naming rules."""


class InvalidRefError(ValidationError):
    """A model reference such as ``tenant/model:3`` does not parse."""


class UnsupportedModelError(ValidationError):
    """No registered runtime knows how to save this object or read this file."""


class PayloadTooLargeError(ValidationError):
    """A request body is larger than the configured limit."""


class AuthenticationError(ShoalError):
    """The API key is missing, malformed, unknown or revoked (HTTP 401)."""


class AccessDeniedError(ShoalError):
    """The key is valid but its scope does not allow the operation (HTTP 403, admin-only)."""


class RateLimitedError(ShoalError):
    """Over a rate limit or quota (HTTP 429); ``retry_after_s`` says when to try again.

    ``reason`` names the limit that refused (``rate``, ``day_quota``, ``month_quota``).
    """

    def __init__(self, message: str, retry_after_s: float, reason: str, subject: str) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.reason = reason
        self.subject = subject


class NotFoundError(ShoalError):
    """A tenant, model, version, alias or artifact does not exist."""


class ConflictError(ShoalError):
    """The thing exists already, or the change clashes with the current state."""


class UntrustedArtifactError(ShoalError):
    """Loading the artifact would need types or code that are not trusted."""


class ArtifactError(ShoalError):
    """The artifact store could not read or write an artifact."""


class CorruptArtifactError(ArtifactError):
    """An artifact's bytes do not match the sha256 digest it is stored under."""


class RuntimeLoadError(ShoalError):
    """A model runtime failed to save, load or run a model."""


class ModelLoadError(RuntimeLoadError):
    """The serving cache failed to load a model; other models are unaffected."""


class PredictError(ShoalError):
    """A model raised while predicting; only the request that triggered it fails."""


class CapacityError(ShoalError):
    """The memory budget cannot take this model now (everything resident is in use)."""


class ModelTooLargeError(CapacityError):
    """The model alone is larger than the whole memory budget."""


class CacheFullError(CapacityError):
    """Every evictable byte is leased or pinned and none was released in time (a 503)."""


class StorageError(ShoalError):
    """The metadata store failed (connection, migration, constraint)."""


class RemoteError(ShoalError):
    """A remote Shoal server could not be reached, or answered with something not its API."""


class DataQualityError(ShoalError):
    """Data failed an expectation whose severity is ``fail``; ``report`` holds every result."""

    def __init__(self, message: str, report: object) -> None:
        super().__init__(message)
        self.report = report


class JobFailedError(ShoalError):
    """A notebook job failed (an error cell) or timed out; ``job`` is its record."""

    def __init__(self, message: str, job: object) -> None:
        super().__init__(message)
        self.job = job


class NotificationError(ShoalError):
    """A notifier could not deliver a message; the message never contains a secret."""
