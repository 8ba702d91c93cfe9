"""Shoal's settings, read once at start-up: CLI flags > SHOAL_* environment > file > defaults."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ByteSize, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "SHOAL_CONFIG"
"""Names the TOML config file; without it, ``<home>/shoal.toml`` is read when it exists."""

DEFAULT_HOME = Path("~/.shoal")


def _config_file() -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("SHOAL_HOME")
    return (Path(home) if home else DEFAULT_HOME).expanduser() / "shoal.toml"


class Settings(BaseSettings):
    """Where Shoal keeps its state and what it may trust.

    The embedded defaults live under ``home``: ``shoal.db`` (SQLite metadata), ``artifacts/``
    (the content-addressed store) and ``cache/`` (unpacked models).
    """

    model_config = SettingsConfigDict(env_prefix="SHOAL_", extra="ignore")

    home: Path = Field(default=DEFAULT_HOME, description="Folder of the embedded defaults.")
    metadata_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; sqlite:///<home>/shoal.db when unset. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/db",
    )
    artifact_url: str | None = Field(
        default=None,
        description="fsspec URL of the artifact store: a local folder (<home>/artifacts when "
        "unset) or s3://bucket/prefix.",
    )
    artifact_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible server (MinIO, Ceph, moto)."
    )
    artifact_key: str | None = Field(default=None, description="S3 access key id.")
    artifact_secret: SecretStr | None = Field(default=None, description="S3 secret key.")
    trusted_types: list[str] = Field(
        default_factory=list,
        description="Extra fully qualified type names the skops loader may trust.",
    )
    allow_pickle: bool = Field(
        default=False,
        description="Allow loading pickle/joblib artifacts, which run code on load.",
    )
    actor: str | None = Field(
        default=None, description="Who is acting, recorded in the audit log; the OS user if unset."
    )
    memory_budget: ByteSize = Field(
        default=ByteSize(1 << 30),
        description="Bytes of models (measured footprints) the serving cache holds: 1GiB, 512MB.",
    )
    inference_threads: int = Field(
        default=2, ge=1, le=256, description="Threads that run predictions (share one cache)."
    )
    max_parallel_loads: int = Field(default=2, ge=1, le=64, description="Concurrent model loads.")
    max_body_bytes: ByteSize = Field(
        default=ByteSize(16 << 20), description="Largest inference request body (413 above)."
    )
    resolve_ttl_s: float = Field(
        default=2.0,
        ge=0,
        description="How often the server asks the registry what changed "
        "(alias moves, approvals, deletions) and re-resolves the affected models.",
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis for usage-plan limits shared by every process and replica "
        "(redis://127.0.0.1:6379/0); limits are per process when unset.",
    )
    key_cache_ttl_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How long a verified API key or a plan is cached: revocations and plan "
        "changes reach every server within this many seconds.",
    )

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def resolved_metadata_url(self) -> str:
        return self.metadata_url or f"sqlite:///{self.home / 'shoal.db'}"

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or str(self.home / "artifacts")

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Constructor arguments are the CLI flags, so they win over the environment and the file.
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)
