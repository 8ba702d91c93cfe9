"""Shoal's settings, read once at start-up: CLI flags > SHOAL_* environment > file > defaults."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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
    pipeline_executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where pipeline steps run: local (a worker pool on this machine) or ray "
        "(a Ray cluster; pip install 'shoal[ray]').",
    )
    pipeline_workers: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Workers of the local executor; one per CPU core when unset.",
    )
    pipeline_pool: Literal["process", "thread"] = Field(
        default="process",
        description="The local executor's workers: processes (every core for Python code) or "
        "threads (I/O-bound steps).",
    )
    ray_address: str | None = Field(
        default=None,
        description="The Ray cluster of the ray executor (ray://host:10001, auto); a local "
        "Ray is started when unset.",
    )
    url: str | None = Field(
        default=None,
        description="A Shoal server (http://host:8000) the CLI manages instead of the local "
        "stores; with api_key.",
    )
    api_key: SecretStr | None = Field(
        default=None, description="The API key (shoal_...) the CLI sends to url."
    )
    max_upload_bytes: ByteSize = Field(
        default=ByteSize(256 << 20),
        description="Largest model upload the management API accepts (413 above).",
    )
    capture_format: Literal["parquet", "jsonl"] = Field(
        default="parquet", description="File format of captured inferences: parquet or jsonl."
    )
    capture_writer: Literal["process", "thread"] = Field(
        default="process",
        description="Where capture files are made: 'process', a child process per server (the "
        "file work then costs the event loop least), or 'thread', in the server process.",
    )
    capture_queue_size: int = Field(
        default=10_000,
        ge=1,
        le=10_000_000,
        description="Captured inferences waiting to be written, at most; more are dropped "
        "(and counted), so requests never wait for the writer.",
    )
    capture_queue_bytes: ByteSize = Field(
        default=ByteSize(64 << 20),
        description="Bytes of captured requests and responses held before writing, at most.",
    )
    capture_flush_interval_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="A model's captured inferences are written at least this often (seconds).",
    )
    capture_file_rows: int = Field(
        default=10_000, ge=1, description="Rows per capture file, at most."
    )
    capture_config_ttl_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="How often servers re-read the capture settings: a change of a model's "
        "sampling percent reaches every server within this many seconds.",
    )
    # -- observability: metrics, traces, access logs, readiness -------------------------------
    metrics_dir: Path | None = Field(
        default=None,
        description="Folder shared by the server processes of one host: each writes its "
        "metrics there and any of them answers /metrics for all. Empty it before starting the "
        "group. Unset: each process reports only itself.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that may read /metrics (for Prometheus), besides admin keys.",
    )
    metrics_loopback: bool = Field(
        default=False,
        description="Let callers on 127.0.0.1/::1 read /metrics without a key (a scraper on the "
        "same host); keep it off behind a reverse proxy on the same host.",
    )
    metrics_max_models: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Models with their own series in /metrics; later ones count as (other).",
    )
    trace_exporter: Literal["none", "console", "otlp"] = Field(
        default="none",
        description="Where traces go: none, console (stdout), otlp (needs shoal[otlp]).",
    )
    trace_sample_rate: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="Share of requests traced: 1.0 in development, 0.01 in production. "
        "Requests that fail on the server or at the model are always traced.",
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP traces URL (http://collector:4318/v1/traces); when unset the "
        "exporter reads OTEL_EXPORTER_OTLP_* (default localhost:4318).",
    )
    access_log: bool = Field(
        default=False, description="Write one JSON line per request (no keys, no payloads)."
    )
    access_log_file: Path | None = Field(
        default=None,
        description="File the access log is appended to (setting it turns the log on); "
        "stderr when unset.",
    )
    ready_check_ttl_s: float = Field(
        default=5.0,
        ge=0,
        le=300,
        description="How long a readiness check of the metadata and artifact stores is reused.",
    )
    # -- notebook jobs, data queries, schedules, notifications --------------------------------
    data_dir: Path | None = Field(
        default=None,
        description="Folder of Parquet/CSV tables that `shoal sql` and notebooks query "
        "(<home>/data when unset).",
    )
    job_concurrency: int = Field(
        default=2, ge=1, le=256, description="Notebooks of a parameter grid run at once, at most."
    )
    job_max_runtime_s: float | None = Field(
        default=6 * 3600,
        gt=0,
        description="A notebook job's kernel is killed past this many seconds unless the job "
        "sets its own limit; unset for none.",
    )
    job_kernel: str = Field(default="python3", description="Jupyter kernel notebook jobs run on.")
    schedule_tick_s: float = Field(
        default=15.0, gt=0, le=3600, description="How often the scheduler looks for due runs."
    )
    schedule_grace_s: float = Field(
        default=300.0,
        ge=0,
        description="A fire time up to this many seconds late still runs as on time; older "
        "ones are missed and follow the schedule's missed-run policy (skip or catch-up).",
    )
    notify_webhook_url: SecretStr | None = Field(
        default=None,
        description="Incoming webhook (Slack-compatible JSON) told of failed runs and jobs; "
        "the URL is a secret and is never logged.",
    )
    notify_email_to: list[str] = Field(
        default_factory=list, description="Email addresses told of failed runs and jobs."
    )
    notify_email_from: str = Field(
        default="shoal@localhost", description="Sender address of notification emails."
    )
    notify_on_success: bool = Field(
        default=False, description="Also notify when a pipeline run or a job succeeds."
    )
    notify_retries: int = Field(
        default=3, ge=0, le=10, description="Extra attempts of a failed notification."
    )
    notify_backoff_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Wait before the first retry of a notification; doubles each retry.",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server of notification emails.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP server port.")
    smtp_user: str | None = Field(default=None, description="SMTP login user.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP login password.")
    smtp_starttls: bool = Field(default=False, description="Upgrade SMTP with STARTTLS.")

    @property
    def resolved_data_dir(self) -> Path:
        return (self.data_dir or self.home / "data").expanduser()

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
