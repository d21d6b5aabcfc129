"""Service configuration: environment variables prefixed ``WEATHER_`` and an optional ``.env``."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# Pinned to a commit: a branch moves. Its data files are also checked against the SHA-256
# digests in default_source.sha256 before anything is stored (GitHub may recompress the
# archive itself, so the archive's own digest is not stable).
DEFAULT_DATA_SOURCE = (
    "https://github.com/corteva/code-challenge-template/archive/"
    "3cc0affd3f19ca84770c8ac90f4cb0a54ae344dd.tar.gz"
)
# Production admin tokens: 32 characters of token_urlsafe are 192 bits, beyond guessing even
# at the rate limit's pace.
MIN_TOKEN = 32


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEATHER_", env_file=".env", extra="ignore")

    environment: Environment = Environment.development
    database_url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:port/db; unset starts an embedded PostgreSQL.",
    )
    database_read_url: SecretStr | None = Field(
        default=None, description="Optional read replica used by GET endpoints."
    )
    embedded_dir: Path = Field(
        default_factory=lambda: platformdirs.user_data_path("weather-api") / "pgdata",
        description="Data directory of the embedded PostgreSQL.",
    )
    data_source: str = DEFAULT_DATA_SOURCE
    data_root: Path = Field(
        default_factory=Path.cwd, description="Path sources of POST /api/load must lie inside it."
    )
    autoload: bool = Field(default=True, description="serve loads data_source into an empty db.")
    admin_token: SecretStr | None = None
    admin_max_failures: int = Field(
        default=10, ge=1, description="Wrong bearer tokens per client address and window."
    )
    admin_failure_window_s: float = Field(
        default=60, gt=0, description="Past admin_max_failures in it, that address gets 429s."
    )
    allowed_source_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["github.com", "codeload.github.com"]
    )
    allow_private_source_hosts: bool = False
    max_download_bytes: int = 200 * 1024**2
    max_upload_bytes: int = 200 * 1024**2
    max_extracted_bytes: int = Field(
        default=500 * 1024**2, description="Bytes one load may extract, over all its archives."
    )
    max_archive_members: int = Field(
        default=10_000, description="Members one load may read, over all its archives."
    )
    download_timeout_s: float = Field(
        default=600.0, description="Overall deadline of a download, redirects included."
    )
    statement_timeout_ms: int = Field(default=10_000, description="Bounds every API query.")
    load_statement_timeout_ms: int = Field(
        default=300_000, description="Bounds each statement of a load: a batch's COPY or stats."
    )
    export_timeout_ms: int = Field(
        default=300_000, description="Bounds a CSV export, which runs as long as the client reads."
    )
    max_concurrent_exports: int = Field(
        default=4,
        ge=1,
        description="CSV exports at once per process, on a pool of their own; past it an "
        "export waits for one to end (export_queue_timeout_s), then is a 503.",
    )
    export_queue_timeout_s: float = Field(
        default=5.0,
        ge=0,
        description="How long an export waits, first come first served, for one of the "
        "max_concurrent_exports to end before it is answered 503 (0: at once).",
    )
    send_timeout_s: float = Field(
        default=30,
        gt=0,
        description="A client that reads nothing of a response for this long is dropped.",
    )
    header_timeout_s: float = Field(
        default=10, gt=0, description="Time a client gets to send a request line and headers."
    )
    body_timeout_s: float = Field(
        default=300, gt=0, description="Time a client gets to send a body, from its headers' end."
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Open client connections per process; past it a 503."
    )
    pool_size: int = Field(
        default=4,
        ge=1,
        description="Connections per process for the routes' reads (to the replica, if set), "
        "besides one per engine for sessions; requests past it wait their turn. One worker "
        "cannot keep more busy, and more queries at once than the database has cores only "
        "lengthen the tail.",
    )
    response_cache_bytes: int = Field(
        default=64 * 1024**2,
        ge=0,
        description="Memory per process for repeated GETs within one data version; 0 is off.",
    )
    data_version_max_age_ms: int = Field(
        default=500,
        ge=0,
        description="How long a process trusts the data version it read: a load elsewhere "
        "shows within this (and one query).",
    )
    workers: int = 1
    metrics_enabled: bool = True
    log_format: Literal["text", "json"] | None = Field(
        default=None, description="text or json; json in production."
    )
    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _split_hosts(cls, data: dict[str, object]) -> dict[str, object]:
        hosts = data.get("allowed_source_hosts")
        if isinstance(hosts, str):
            data["allowed_source_hosts"] = [h.strip() for h in hosts.split(",") if h.strip()]
        return data

    @model_validator(mode="after")
    def _production_needs_database(self) -> Self:
        if self.environment is Environment.production and self.database_url is None:
            raise ValueError(
                "WEATHER_DATABASE_URL must be set when WEATHER_ENVIRONMENT=production "
                "(the embedded PostgreSQL is for development and tests only)"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_a_strong_token(self) -> Self:
        token = self.admin_token.get_secret_value() if self.admin_token else ""
        if self.environment is Environment.production and token and len(token) < MIN_TOKEN:
            raise ValueError(
                f"WEATHER_ADMIN_TOKEN must be at least {MIN_TOKEN} characters when "
                f"WEATHER_ENVIRONMENT=production (it has {len(token)}); make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return self

    @property
    def json_logs(self) -> bool:
        if self.log_format is None:
            return self.environment is Environment.production
        return self.log_format == "json"


@lru_cache
def get_settings() -> Settings:
    return Settings()
