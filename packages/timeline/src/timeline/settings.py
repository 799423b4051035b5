"""Service settings, read from ``TIMELINE_*`` environment variables.

Nothing is read from a ``.env`` file unless you ask for it with
:meth:`Settings.from_env`. Unknown ``TIMELINE_*`` keys are ignored.
"""

from __future__ import annotations

__all__ = ["Settings"]

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./timeline.db"


class Settings(BaseSettings):
    """Everything the service needs to run.

    Attributes:
        database_url: SQLAlchemy async URL: ``sqlite+aiosqlite:///path.db`` (default, a file
            in the working directory) or ``postgresql+asyncpg://user@host/db``.
        auto_migrate: apply migrations at start-up; ``None`` means "yes for SQLite, no for
            PostgreSQL" (run ``timeline migrate`` there).
        secret_key: HMAC key for access and refresh tokens; when unset, one is generated into
            ``key_dir/timeline-token.key`` and reused, so all workers agree.
        admin_token: the platform admin credential for creating tenants over HTTP; unset
            means tenant creation over HTTP is refused (use ``timeline tenant create``).
        key_dir: where generated keys live (outside the database on purpose).
        signing_key_file: Ed25519 private key (PEM) that signs checkpoints; generated there
            if missing. Defaults to ``key_dir/timeline-signing.key``.
        access_token_ttl: lifetime of an access token in seconds.
        refresh_token_ttl: lifetime of a refresh token in seconds.
        redis_url: share rate limits between workers through Redis when set.
        redis_prefix: prefix of the rate limiter's Redis keys (one per deployment).
        rate_limit_per_client: requests per minute per client address.
        rate_limit_per_tenant: requests per minute per tenant.
        cors_origins: browser origins allowed by CORS (never ``*`` with credentials).
        max_request_bytes: largest accepted request body.
        verify_page_size: events read per page by verification (bounds its memory).
        append_retries: how often a colliding append is retried before answering 409.
        pool_size: connections kept per worker (PostgreSQL).
    """

    model_config = SettingsConfigDict(env_prefix="TIMELINE_", extra="ignore", env_file=None)

    database_url: str = DEFAULT_DATABASE_URL
    auto_migrate: bool | None = None
    secret_key: SecretStr | None = None
    admin_token: SecretStr | None = None
    key_dir: Path = Path()
    signing_key_file: Path | None = None
    access_token_ttl: int = Field(default=900, ge=30)
    refresh_token_ttl: int = Field(default=14 * 24 * 3600, ge=60)
    redis_url: str | None = None
    redis_prefix: str = "timeline:rl:"
    rate_limit_per_client: int = Field(default=1200, ge=1)
    rate_limit_per_tenant: int = Field(default=6000, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
    max_request_bytes: int = Field(default=1_048_576, ge=1024)
    verify_page_size: int = Field(default=2000, ge=10, le=100_000)
    append_retries: int = Field(default=5, ge=0, le=50)
    pool_size: int = Field(default=10, ge=1)

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            msg = "TIMELINE_CORS_ORIGINS must list explicit origins, not '*'"
            raise ValueError(msg)
        return value

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite."""
        return self.database_url.startswith("sqlite")

    @property
    def should_migrate(self) -> bool:
        """Whether start-up applies migrations."""
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate

    @property
    def signing_key_path(self) -> Path:
        """The checkpoint signing key file."""
        return self.signing_key_file or self.key_dir / "timeline-signing.key"

    @classmethod
    def from_env(cls, env_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from the environment, optionally also from ``env_file``."""
        return cls(_env_file=env_file, **overrides)  # type: ignore[call-arg]
