"""The whole Shoal exception tree; domain errors know nothing of HTTP or exit codes.

::

    ShoalError
    ├── ValidationError          bad input: a malformed name, ref, signature or argument
    │   ├── InvalidNameError     a tenant/model/alias name that is not allowed
    │   ├── InvalidRefError      a model reference that does not parse
    │   └── UnsupportedModelError  no runtime can save this object / read this file
    ├── NotFoundError            something asked for by name does not exist
    ├── ConflictError            it exists already, or the request clashes with current state
    ├── UntrustedArtifactError   loading would run code or types that are not trusted
    ├── ArtifactError            the artifact store failed
    │   └── CorruptArtifactError the bytes read back do not match their digest
    ├── RuntimeLoadError         a model runtime could not save, load or predict
    └── StorageError             the metadata store failed
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


class StorageError(ShoalError):
    """The metadata store failed (connection, migration, constraint)."""
