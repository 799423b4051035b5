"""Service settings, read from ``TIMELINE_*`` environment variables.

Nothing is read from a ``.env`` file unless you ask for it with
:meth:`Settings.from_env`. Unknown ``TIMELINE_*`` keys are ignored.
"""

from __future__ import annotations

__all__ = ["Settings"]

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from timeline._crypto import SecretCipher

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
        credential_keys: Fernet keys (url-safe base64, 32 bytes) that encrypt stored e-mail
            credentials; the first encrypts, all decrypt (``MultiFernet``), so a new key goes
            first and ``timeline rotate-keys`` re-encrypts under it. E-mail accounts are
            refused while this is empty.
        mail_store_body: keep the text body of imported messages in the event payload
            (default: headers, addresses, size and a body digest only).
        mail_sync_batch: the most messages one sync run imports (the rest come next run).
        mail_sync_lease: seconds an account's sync lease lasts; a running sync renews it as it
            goes, and a sync whose process died frees the account when it expires.
        mail_imap_timeout: seconds an IMAP connection waits for the server on each step.
        mail_token_refresh_margin: an XOAUTH2 account that can refresh its access token does
            so before a sync when the token expires within this many seconds.
        storage_backend: where documents live: ``local`` (``storage_root``) or ``s3``.
        storage_root: the local document store (paths inside it are never client-supplied).
        s3_bucket: the bucket of the ``s3`` backend.
        s3_prefix: a key prefix inside the bucket.
        s3_endpoint_url: an S3-compatible endpoint (MinIO, moto, ...); unset means AWS.
        s3_region: the bucket's region.
        s3_access_key_id: the access key (unset: boto3's default credential chain).
        s3_secret_access_key: its secret.
        max_document_bytes: the largest document accepted by an upload.
        s3_part_bytes: the part size of multipart uploads to S3 (at least 5 MiB, S3's
            minimum); an upload holds at most one part in memory.
        s3_server_side_encryption: ask S3 to encrypt stored documents (``AES256`` or
            ``aws:kms`` with the bucket's default key); unset leaves it to the bucket.
        webhook_queue_path: the durable webhook delivery queue (SQLite); defaults to
            ``key_dir/timeline-webhooks.db``.
        webhook_timeout: seconds a webhook receiver gets to answer.
        webhook_max_attempts: delivery attempts before a webhook goes to dead letters.
        webhook_allow_private: allow webhook URLs on loopback and private networks.
        webhook_concurrency: deliveries one worker process sends at the same time.
        webhook_poll_interval: seconds between looks at the delivery queue when idle (new
            deliveries of the same process wake the worker at once; this bounds how late
            another process's deliveries and ended back-offs are noticed).
        webhook_done_retention: seconds a delivered webhook stays in the queue file (with its
            history, shown by the deliveries route) before the worker purges it.
        workflow_rules_ttl: seconds a worker keeps a tenant's enabled rules in memory; a
            change through this process applies at once, one through another worker
            process within this many seconds.
        workflow_outbox_sweep: seconds between the outbox sweeper's runs (it also runs at
            start): it evaluates the rules for appended events whose inline evaluation never
            finished (the process died right after the commit).
        workflow_outbox_grace: age in seconds an outbox row must reach before the sweeper takes
            it, so it does not race the inline evaluation of a request still being answered.
        workflow_outbox_batch: outbox rows one sweep transaction takes at most.
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
    # E-mail integration.
    credential_keys: list[SecretStr] = Field(default_factory=list)
    mail_store_body: bool = False
    mail_sync_batch: int = Field(default=500, ge=1, le=100_000)
    mail_sync_lease: int = Field(default=600, ge=10, le=86_400)
    mail_imap_timeout: float = Field(default=30.0, gt=0, le=600)
    mail_token_refresh_margin: int = Field(default=120, ge=0, le=86_400)
    # Documents.
    storage_backend: Literal["local", "s3"] = "local"
    storage_root: Path = Path("documents")
    s3_bucket: str | None = None
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    max_document_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    s3_part_bytes: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024, le=5 * 1024**3)
    s3_server_side_encryption: Literal["AES256", "aws:kms"] | None = None
    # Workflows and webhooks.
    webhook_queue_path: Path | None = None
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_allow_private: bool = False
    webhook_concurrency: int = Field(default=4, ge=1, le=64)
    webhook_poll_interval: float = Field(default=1.0, gt=0, le=60)
    webhook_done_retention: float = Field(default=7 * 24 * 3600.0, ge=60)
    workflow_rules_ttl: float = Field(default=5.0, ge=0, le=3600)
    workflow_outbox_sweep: float = Field(default=30.0, gt=0, le=3600)
    workflow_outbox_grace: float = Field(default=10.0, ge=0, le=3600)
    workflow_outbox_batch: int = Field(default=100, ge=1, le=10_000)

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

    def secret_cipher(self) -> SecretCipher:
        """The cipher of stored secrets under :attr:`credential_keys`.

        Raises:
            ConfigurationError: no key is configured, or one is not a Fernet key.
        """
        from timeline._crypto import SecretCipher

        return SecretCipher([k.get_secret_value() for k in self.credential_keys])

    @property
    def webhook_queue_file(self) -> Path:
        """The webhook delivery queue's SQLite file."""
        return self.webhook_queue_path or self.key_dir / "timeline-webhooks.db"

    @property
    def signing_key_path(self) -> Path:
        """The checkpoint signing key file."""
        return self.signing_key_file or self.key_dir / "timeline-signing.key"

    @classmethod
    def from_env(cls, env_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from the environment, optionally also from ``env_file``."""
        return cls(_env_file=env_file, **overrides)  # type: ignore[call-arg]
