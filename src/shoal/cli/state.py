"""Per-invocation CLI state: global flags become Settings, and the client is built on first use.

With ``--url`` (or ``SHOAL_URL``) the client talks to that server with ``--api-key``
(``SHOAL_API_KEY``) instead of opening the local stores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from shoal.client import Client
from shoal.settings import Settings


@dataclass(slots=True)
class CliState:
    """Global flags (they win over the environment and the config file) and the lazy client."""

    overrides: dict[str, object] = field(default_factory=dict)
    _client: Client | None = None

    def settings(self) -> Settings:
        return Settings(**self.overrides)  # type: ignore[arg-type]  # validated by pydantic

    def client(self) -> Client:
        if self._client is None:
            settings = self.settings()
            if settings.url:
                key = settings.api_key.get_secret_value() if settings.api_key else None
                self._client = Client(url=settings.url, api_key=key)
            else:
                self._client = Client(settings)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def client(ctx: typer.Context) -> Client:
    return state(ctx).client()


def set_overrides(
    ctx: typer.Context,
    home: Path | None,
    metadata_url: str | None,
    artifact_url: str | None,
    url: str | None = None,
    api_key: str | None = None,
) -> None:
    values = {
        "home": home,
        "metadata_url": metadata_url,
        "artifact_url": artifact_url,
        "url": url,
        "api_key": api_key,
    }
    state(ctx).overrides.update({k: v for k, v in values.items() if v is not None})
    ctx.call_on_close(state(ctx).close)
