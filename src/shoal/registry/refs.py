"""The one parser for model references: ``tenant/model``, ``tenant/model:3``, ``t/m@alias``."""

from __future__ import annotations

from dataclasses import dataclass

from shoal.errors import InvalidNameError, InvalidRefError
from shoal.registry.names import check_alias, check_name


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A pointer at a model, optionally pinned to a version number or an alias.

    With neither, the reference means "the default version": the ``production`` alias if set,
    else the latest approved version, else the latest version (see ``RegistryService.resolve``).
    """

    tenant: str
    model: str
    version: int | None = None
    alias: str | None = None

    def __post_init__(self) -> None:
        check_name(self.tenant, "tenant name")
        check_name(self.model, "model name")
        if self.version is not None and self.alias is not None:
            raise InvalidRefError("a model reference takes a version or an alias, not both")
        if self.version is not None and (isinstance(self.version, bool) or self.version < 1):
            raise InvalidRefError(f"version must be a positive integer, got {self.version!r}")
        if self.alias is not None:
            check_alias(self.alias)

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse ``tenant/model[:version|@alias]``; ``InvalidRefError`` says what is wrong."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidRefError(f"empty model reference {text!r}; expected tenant/model")
        body, version, alias = text, None, None
        if "@" in body:
            body, _, alias = body.partition("@")
            if not alias:
                raise InvalidRefError(f"model reference {text!r} has an empty alias after '@'")
        elif ":" in body:
            body, _, raw_version = body.partition(":")
            if not raw_version.isdigit() or int(raw_version) < 1:
                raise InvalidRefError(
                    f"model reference {text!r}: version {raw_version!r} is not a positive integer"
                )
            version = int(raw_version)
        parts = body.split("/")
        if len(parts) != 2:
            raise InvalidRefError(
                f"model reference {text!r} must look like tenant/model, tenant/model:3 "
                "or tenant/model@production"
            )
        try:
            return cls(parts[0], parts[1], version=version, alias=alias)
        except InvalidNameError as exc:
            raise InvalidRefError(f"model reference {text!r}: {exc}") from exc

    @property
    def name(self) -> str:
        """``tenant/model`` without any version or alias."""
        return f"{self.tenant}/{self.model}"

    def at_version(self, version: int) -> ModelRef:
        """The same model pinned to ``version``."""
        return ModelRef(self.tenant, self.model, version=version)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name
