"""Service configuration: environment variables prefixed ``WEATHER_`` and an optional ``.env``."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_SOURCE = (
    "https://github.com/corteva/code-challenge-template/archive/refs/heads/main.tar.gz"
)


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
    allowed_source_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["github.com", "codeload.github.com"]
    )
    allow_private_source_hosts: bool = False
    max_download_bytes: int = 200 * 1024**2
    max_upload_bytes: int = 200 * 1024**2
    max_extracted_bytes: int = 500 * 1024**2
    statement_timeout_ms: int = Field(default=10_000, description="Bounds every API query.")
    load_statement_timeout_ms: int = Field(
        default=300_000, description="Bounds each statement of a load: a batch's COPY or stats."
    )
    export_timeout_ms: int = Field(
        default=300_000, description="Bounds a CSV export, which runs as long as the client reads."
    )
    pool_size: int = 10
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

    @property
    def json_logs(self) -> bool:
        if self.log_format is None:
            return self.environment is Environment.production
        return self.log_format == "json"


@lru_cache
def get_settings() -> Settings:
    return Settings()
